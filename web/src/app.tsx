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
                <Route default component={NotFound} />
              </Router>
            </ErrorBoundary>
          </Layout>
        </AuthProvider>
      </LocationProvider>
    </Provider>
  );
}
