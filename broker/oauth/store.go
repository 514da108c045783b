package oauth

import "github.com/subzero-gateway/subzero/broker/oauth/oauthstore"

// The store contract lives in [oauthstore], which imports no OAuth
// library, so that store/* can implement it; these names are the same
// types and values.
type (
	Store = oauthstore.Store
	Kind  = oauthstore.Kind
	Grant = oauthstore.Grant
)

// Store errors.
var (
	ErrNotFound = oauthstore.ErrNotFound
	ErrExists   = oauthstore.ErrExists
	ErrInactive = oauthstore.ErrInactive
)

// The grant kinds the authorization server keeps.
const (
	KindCode    = oauthstore.KindCode
	KindPKCE    = oauthstore.KindPKCE
	KindAccess  = oauthstore.KindAccess
	KindRefresh = oauthstore.KindRefresh
)
