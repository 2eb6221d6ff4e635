// Every GraphQL operation the web app sends. Their types come from ../schema.graphqls through
// `npm run codegen` (src/gql/, generated, not committed).
import { graphql } from './gql';

export const MeQuery = graphql(`
  query Me {
    me {
      id
      name
      email
      role
    }
  }
`);

export const RegisterMutation = graphql(`
  mutation Register($input: RegisterInput!) {
    register(input: $input) {
      user {
        id
        name
        email
        role
      }
    }
  }
`);

export const LoginMutation = graphql(`
  mutation Login($input: LoginInput!) {
    login(input: $input) {
      user {
        id
        name
        email
        role
      }
    }
  }
`);

export const LogoutMutation = graphql(`
  mutation Logout {
    logout
  }
`);

export const EventSummaryQuery = graphql(`
  query EventSummary {
    event {
      name
      startsAt
      endsAt
      open
      goalCents
      totalCents
      donationCount
    }
  }
`);

export const EventLiveFields = graphql(`
  fragment EventLive on Event {
    name
    startsAt
    endsAt
    open
    goalCents
    totalCents
    donationCount
    charityTotals(first: 5) {
      charity {
        id
        name
      }
      totalCents
      donationCount
    }
    recentDonations(first: 10) {
      donorName
      charity {
        id
        name
      }
      amountCents
      settledAt
    }
  }
`);

export const EventLiveQuery = graphql(`
  query EventLive {
    event {
      ...EventLive
    }
  }
`);

export const EventTotalsSubscription = graphql(`
  subscription EventTotals {
    eventTotals {
      ...EventLive
    }
  }
`);

export const CharitiesQuery = graphql(`
  query Charities($first: Int!, $after: String, $search: String) {
    charities(first: $first, after: $after, search: $search) {
      edges {
        node {
          id
          name
          description
          active
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totalCount
    }
  }
`);

export const CharityOptionsQuery = graphql(`
  query CharityOptions {
    charities(first: 100) {
      edges {
        node {
          id
          name
          active
        }
      }
    }
  }
`);

export const CharityQuery = graphql(`
  query Charity($id: ID!) {
    charity(id: $id) {
      id
      name
      description
      active
    }
  }
`);

export const PaymentMethodFields = graphql(`
  fragment Card on PaymentMethod {
    id
    brand
    last4
    expMonth
    expYear
    isDefault
  }
`);

export const PaymentsConfigQuery = graphql(`
  query PaymentsConfig {
    paymentsConfig {
      publishableKey
      sandbox
      testPaymentMethods {
        id
        label
      }
    }
  }
`);

export const MyCardsQuery = graphql(`
  query MyCards {
    me {
      id
      paymentMethods {
        ...Card
      }
    }
  }
`);

export const GiveFormQuery = graphql(`
  query GiveForm {
    event {
      name
      open
      startsAt
      endsAt
    }
    me {
      id
      paymentMethods {
        ...Card
      }
    }
  }
`);

export const CreateSetupIntentMutation = graphql(`
  mutation CreateSetupIntent {
    createSetupIntent {
      clientSecret
      publishableKey
    }
  }
`);

export const AddPaymentMethodMutation = graphql(`
  mutation AddPaymentMethod($input: AddPaymentMethodInput!) {
    addPaymentMethod(input: $input) {
      ...Card
    }
  }
`);

export const RemovePaymentMethodMutation = graphql(`
  mutation RemovePaymentMethod($id: ID!) {
    removePaymentMethod(id: $id)
  }
`);

export const DonationFields = graphql(`
  fragment DonationDetail on Donation {
    id
    amountCents
    currency
    status
    createdAt
    updatedAt
    settledAt
    failureCode
    failureMessage
    message
    anonymous
    charity {
      id
      name
    }
    paymentMethod {
      id
      brand
      last4
    }
    nextAction {
      type
      clientSecret
      url
    }
  }
`);

export const SubmitDonationMutation = graphql(`
  mutation SubmitDonation($input: SubmitDonationInput!) {
    submitDonation(input: $input) {
      needsConfirmation
      donation {
        id
        status
      }
      duplicateOf {
        id
        amountCents
        createdAt
        charity {
          id
          name
        }
      }
    }
  }
`);

export const DonationQuery = graphql(`
  query Donation($id: ID!) {
    donation(id: $id) {
      ...DonationDetail
    }
  }
`);

export const DonationUpdatedSubscription = graphql(`
  subscription DonationUpdated($id: ID!) {
    donationUpdated(id: $id) {
      ...DonationDetail
    }
  }
`);

export const RefreshDonationMutation = graphql(`
  mutation RefreshDonation($id: ID!) {
    refreshDonation(id: $id) {
      ...DonationDetail
    }
  }
`);

export const HistoryQuery = graphql(`
  query History($first: Int!, $after: String) {
    me {
      id
      donations(first: $first, after: $after) {
        edges {
          node {
            id
            amountCents
            status
            createdAt
            charity {
              id
              name
            }
          }
        }
        pageInfo {
          hasNextPage
          endCursor
        }
        totalCount
      }
    }
  }
`);

// ---- The organisers' console (admins only: donors get FORBIDDEN).

export const AdminDonationFields = graphql(`
  fragment AdminDonationRow on Donation {
    id
    amountCents
    currency
    status
    createdAt
    settledAt
    failureCode
    anonymous
    charity {
      id
      name
    }
    attempts {
      attemptNo
      status
      errorCode
    }
    dispute {
      status
      reason
    }
  }
`);

export const AdminDonationsQuery = graphql(`
  query AdminDonations($filter: AdminDonationFilter, $first: Int!, $after: String) {
    adminDonations(filter: $filter, first: $first, after: $after) {
      edges {
        node {
          ...AdminDonationRow
        }
        donor {
          id
          email
          name
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totalCount
    }
  }
`);

export const RefundDonationMutation = graphql(`
  mutation RefundDonation($input: RefundDonationInput!) {
    refundDonation(input: $input) {
      ...AdminDonationRow
    }
  }
`);

export const AdminCharityFields = graphql(`
  fragment AdminCharity on Charity {
    id
    slug
    name
    description
    ein
    active
  }
`);

export const AdminCharitiesQuery = graphql(`
  query AdminCharities($first: Int!, $after: String) {
    charities(first: $first, after: $after) {
      edges {
        node {
          ...AdminCharity
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totalCount
    }
  }
`);

export const CreateCharityMutation = graphql(`
  mutation CreateCharity($input: CreateCharityInput!) {
    createCharity(input: $input) {
      ...AdminCharity
    }
  }
`);

export const UpdateCharityMutation = graphql(`
  mutation UpdateCharity($id: ID!, $input: UpdateCharityInput!) {
    updateCharity(id: $id, input: $input) {
      ...AdminCharity
    }
  }
`);

export const AdminAuditLogQuery = graphql(`
  query AdminAuditLog($first: Int!, $after: String) {
    adminAuditLog(first: $first, after: $after) {
      edges {
        node {
          id
          actorId
          actorEmail
          action
          objectType
          objectId
          before
          after
          createdAt
        }
      }
      pageInfo {
        hasNextPage
        endCursor
      }
      totalCount
    }
  }
`);
