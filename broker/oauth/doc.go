// Package oauth is Subzero's OAuth 2.1 authorization server for agents. It
// declares [Store], the state it keeps (clients, grants by request, users
// and consents), which store/bolt and store/redis implement.
package oauth
