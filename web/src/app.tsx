import type { ComponentType } from 'preact';
import { LocationProvider, Router, Route, ErrorBoundary } from 'preact-iso';
import { Provider } from '@urql/preact';
import { client } from './client';
import { AuthProvider, RequireAuth } from './auth';
import { Layout } from './components/layout';
import { Home } from './pages/home';
import { SignIn, SignUp } from './pages/auth-pages';
import { Charities } from './pages/charities';
import { Give } from './pages/give';
import { DonationPage } from './pages/donation';
import { History } from './pages/history';
import { Cards } from './pages/cards';
import { Live } from './pages/live';
import { NotFound } from './pages/not-found';
import { adminOnly, ConsoleOverview } from './pages/console';
import { ConsoleDonations } from './pages/console-donations';
import { ConsoleCharities } from './pages/console-charities';
import { ConsoleAudit } from './pages/console-audit';

/** The page, for signed-in donors only (others go to sign in and come back). */
function signedIn<P extends object>(Page: ComponentType<P>): ComponentType<P> {
  return function SignedIn(props: P) {
    return (
      <RequireAuth>
        <Page {...props} />
      </RequireAuth>
    );
  };
}

const GivePage = signedIn(Give);
const DonationRoute = signedIn(DonationPage);
const HistoryPage = signedIn(History);
const CardsPage = signedIn(Cards);
// The organisers' console: admins only (donors are told so; visitors sign in first).
const ConsolePage = adminOnly(ConsoleOverview);
const ConsoleDonationsPage = adminOnly(ConsoleDonations);
const ConsoleCharitiesPage = adminOnly(ConsoleCharities);
const ConsoleAuditPage = adminOnly(ConsoleAudit);

export function App() {
  return (
    <Provider value={client}>
      <LocationProvider>
        <AuthProvider>
          <Layout>
            <ErrorBoundary>
              <Router>
                <Route path="/" component={Home} />
                <Route path="/signup" component={SignUp} />
                <Route path="/signin" component={SignIn} />
                <Route path="/charities" component={Charities} />
                <Route path="/live" component={Live} />
                <Route path="/give" component={GivePage} />
                <Route path="/donations/:id" component={DonationRoute} />
                <Route path="/history" component={HistoryPage} />
                <Route path="/cards" component={CardsPage} />
                <Route path="/console" component={ConsolePage} />
                <Route path="/console/donations" component={ConsoleDonationsPage} />
                <Route path="/console/charities" component={ConsoleCharitiesPage} />
                <Route path="/console/audit" component={ConsoleAuditPage} />
                <Route default component={NotFound} />
              </Router>
            </ErrorBoundary>
          </Layout>
        </AuthProvider>
      </LocationProvider>
    </Provider>
  );
}
