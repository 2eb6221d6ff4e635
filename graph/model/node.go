package model

// Node is any object with a global ID (the GraphQL Node interface). Domain types are bound
// to it without methods of their own; the generated code switches on their concrete type.
type Node interface{}
