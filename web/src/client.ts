// The GraphQL client: queries and mutations as JSON POSTs to /graphql with the session cookie
// (same origin), subscriptions over graphql-ws on the same path (the upgrade carries the cookie).
import { Client, fetchExchange, subscriptionExchange } from '@urql/core';
import { createClient as createWSClient } from 'graphql-ws';

export const wsClient = createWSClient({
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`,
  lazy: true,
  // Keep the socket a little while between pages so moving around does not reconnect.
  lazyCloseTimeout: 3000,
  retryAttempts: 20,
  shouldRetry: () => true,
  keepAlive: 20_000,
});

export const client = new Client({
  url: '/graphql',
  // No document cache: every page asks the server, so nothing shown is stale after a gift.
  exchanges: [
    fetchExchange,
    subscriptionExchange({
      forwardSubscription(request) {
        const input = { ...request, query: request.query || '' };
        return {
          subscribe(sink) {
            const unsubscribe = wsClient.subscribe(input, sink);
            return { unsubscribe };
          },
        };
      },
    }),
  ],
  preferGetMethod: false,
  requestPolicy: 'network-only',
  fetchOptions: () => ({ credentials: 'same-origin', headers: { Accept: 'application/json' } }),
});

/** A sign-in or sign-out changes who the socket speaks for: start a new one. */
export function resetSocket(): void {
  wsClient.terminate();
}
