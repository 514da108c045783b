package rebac

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func listFixture(t *testing.T, opts Options) *Engine {
	return newTestEngine(t, opts, docModel, tups(
		"user:anne owner document:1",
		"group:eng#member viewer document:2",
		"user:bob member group:eng",
		"group:core#member member group:eng",
		"user:carl member group:core",
		"folder:f parent document:3",
		"folder:f parent document:4",
		"user:dana viewer folder:f",
		"user:* viewer document:public",
		"user:bob blocked document:2",
		"user:anne allowed document:1",
		"user:carl allowed document:2",
	)...)
}

func TestListObjects(t *testing.T) {
	e := listFixture(t, Options{})
	tests := []struct {
		user, rel string
		ctxT      []Tuple
		want      []string
	}{
		{"user:anne", "viewer", nil, []string{"document:1", "document:public"}},
		{"user:bob", "viewer", nil, []string{"document:2", "document:public"}},
		{"user:carl", "viewer", nil, []string{"document:2", "document:public"}},
		{"user:dana", "viewer", nil, []string{"document:3", "document:4", "document:public"}},
		{"user:nobody", "viewer", nil, []string{"document:public"}},
		{"user:bob", "restricted_view", nil, []string{"document:public"}},
		{"user:carl", "restricted_view", nil, []string{"document:2", "document:public"}},
		{"user:carl", "both", nil, []string{"document:2"}},
		{"user:anne", "both", nil, []string{"document:1"}},
		{"group:eng#member", "viewer", nil, []string{"document:2"}},
		{"user:erin", "viewer", tups("user:erin viewer folder:f"), []string{"document:3", "document:4", "document:public"}},
		{"user:erin", "owner", tups("user:erin owner document:9"), []string{"document:9"}},
	}
	for _, tt := range tests {
		t.Run(tt.user+" "+tt.rel, func(t *testing.T) {
			got, err := e.ListObjects(t.Context(), ListObjectsRequest{User: tt.user, Relation: tt.rel, Type: "document", ContextualTuples: tt.ctxT})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Every listed object checks true.
			for _, obj := range got {
				if !check(t, e, CheckRequest{User: tt.user, Relation: tt.rel, Object: obj, ContextualTuples: tt.ctxT}) {
					t.Errorf("listed %s, which does not check", obj)
				}
			}
		})
	}
}

func TestListObjectsErrors(t *testing.T) {
	e := listFixture(t, Options{})
	tests := []struct {
		name string
		req  ListObjectsRequest
		want ErrorCode
	}{
		{"unknown type", ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "file"}, CodeTypeNotFound},
		{"unknown relation", ListObjectsRequest{User: "user:anne", Relation: "reader", Type: "document"}, CodeRelationNotFound},
		{"unknown user type", ListObjectsRequest{User: "robot:r", Relation: "viewer", Type: "document"}, CodeValidation},
		{"malformed user", ListObjectsRequest{User: "anne", Relation: "viewer", Type: "document"}, CodeValidation},
		{"bad contextual tuple", ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "document", ContextualTuples: tups("user:anne viewer file:1")}, CodeInvalidTuple},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.ListObjects(t.Context(), tt.req)
			wantCode(t, err, tt.want)
		})
	}
}

func TestListObjectsConditions(t *testing.T) {
	office := &TupleCondition{Name: "in_office", Context: map[string]any{"cidr": "10.0.0.0/8"}}
	e := newTestEngine(t, Options{}, officeModel,
		Tuple{User: "user:anne", Relation: "viewer", Object: "document:1", Condition: office},
		Tuple{User: "user:anne", Relation: "editor", Object: "document:2"},
	)
	req := ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "document", Context: map[string]any{"ip": "10.0.0.1"}}
	got, err := e.ListObjects(t.Context(), req)
	if err != nil || !cmp.Equal(got, []string{"document:1", "document:2"}) {
		t.Errorf("inside: %q, %v", got, err)
	}
	req.Context = map[string]any{"ip": "192.168.0.1"}
	got, err = e.ListObjects(t.Context(), req)
	if err != nil || !cmp.Equal(got, []string{"document:2"}) {
		t.Errorf("outside: %q, %v", got, err)
	}
	req.Context = nil
	_, err = e.ListObjects(t.Context(), req)
	wantCode(t, err, CodeValidation)
}

func TestListObjectsLimit(t *testing.T) {
	var ts []Tuple
	for i := range 30 {
		ts = append(ts, tup(fmt.Sprintf("user:anne owner document:%02d", i)))
	}
	e := newTestEngine(t, Options{MaxListResult: 10}, docModel, ts...)
	got, err := e.ListObjects(t.Context(), ListObjectsRequest{User: "user:anne", Relation: "viewer", Type: "document"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 10 {
		t.Errorf("%d objects, want 10", len(got))
	}
}

func TestListUsers(t *testing.T) {
	e := listFixture(t, Options{})
	tests := []struct {
		obj, rel string
		filters  []string
		want     []string
	}{
		{"document:1", "viewer", []string{"user"}, []string{"user:anne"}},
		{"document:2", "viewer", []string{"user"}, []string{"user:bob", "user:carl"}},
		{"document:2", "viewer", []string{"group#member"}, []string{"group:core#member", "group:eng#member"}},
		{"document:3", "viewer", []string{"user"}, []string{"user:dana"}},
		{"document:public", "viewer", []string{"user"}, []string{"user:*"}},
		{"document:2", "restricted_view", []string{"user"}, []string{"user:carl"}},
		{"document:2", "both", []string{"user"}, []string{"user:carl"}},
		{"group:eng", "member", []string{"group#member"}, []string{"group:core#member", "group:eng#member"}},
		{"document:9", "viewer", []string{"user"}, []string{}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.obj, " ", tt.rel, " ", tt.filters), func(t *testing.T) {
			got, err := e.ListUsers(t.Context(), ListUsersRequest{Object: tt.obj, Relation: tt.rel, Filters: tt.filters})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestListUsersErrors(t *testing.T) {
	e := listFixture(t, Options{})
	tests := []struct {
		name string
		req  ListUsersRequest
		want ErrorCode
	}{
		{"unknown type", ListUsersRequest{Object: "file:1", Relation: "viewer", Filters: []string{"user"}}, CodeTypeNotFound},
		{"unknown relation", ListUsersRequest{Object: "document:1", Relation: "reader", Filters: []string{"user"}}, CodeRelationNotFound},
		{"unknown filter type", ListUsersRequest{Object: "document:1", Relation: "viewer", Filters: []string{"robot"}}, CodeTypeNotFound},
		{"unknown filter relation", ListUsersRequest{Object: "document:1", Relation: "viewer", Filters: []string{"group#boss"}}, CodeRelationNotFound},
		{"no filter", ListUsersRequest{Object: "document:1", Relation: "viewer"}, CodeValidation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.ListUsers(t.Context(), tt.req)
			wantCode(t, err, tt.want)
		})
	}
	d := newTestEngine(t, Options{}, chainModel(30), chainTuples(30)...)
	_, err := d.ListUsers(t.Context(), ListUsersRequest{Object: "res:1", Relation: "r30", Filters: []string{"user"}})
	wantCode(t, err, CodeTooComplex)
}

func TestExpand(t *testing.T) {
	e := listFixture(t, Options{})
	got, err := e.Expand(t.Context(), ExpandRequest{Object: "document:3", Relation: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Tree{Name: "document:3#viewer", Op: "union", Children: []*Tree{
		{Name: "document:3#viewer"},
		{Name: "document:3#viewer", Op: "computed", Users: []string{"document:3#editor"}},
		{Name: "document:3#viewer", Op: "tupleset", Users: []string{"folder:f#viewer"}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	got, err = e.Expand(t.Context(), ExpandRequest{Object: "document:2", Relation: "viewer", ContextualTuples: tups("user:zed viewer document:2")})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"group:eng#member", "user:zed"}, got.Children[0].Users); diff != "" {
		t.Errorf("direct users (-want +got):\n%s", diff)
	}
	_, err = e.Expand(t.Context(), ExpandRequest{Object: "document:2", Relation: "nope"})
	wantCode(t, err, CodeRelationNotFound)
}
