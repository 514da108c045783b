// Package delegation is the broker's one authorization decision point. A
// [Point] answers a [Request] — may this agent, acting for this user, do
// this action on this resource, now? — by asking up to three engines in
// turn and combining their answers, deny wins:
//
//  1. ReBAC (delegation/rebac, Zanzibar relationships), through [Relations]:
//     the user's permission and, when an agent acts, the agent rule below.
//  2. ABAC (delegation/abac, CEL rules over request attributes), through
//     [Attributes].
//  3. Rego (delegation/rego, OPA policies), through [Policies]; the policy
//     sees the ReBAC outcome as input.rebac.
//
// The first engine that denies decides, and the [Decision] names it, its
// reason and its rule. When every engine allows, the Decision carries the
// granting ReBAC checks in [Decision.Path]. [Point.Decide] caches
// decisions and asks ReBAC's cheap Check, which names no steps;
// [Point.Explain] never caches and asks ReBAC's Explain, so that each path
// also lists its steps, for `subzero authz explain`.
//
// # Agents acting for users
//
// When [Request.Agent] is set, the call is allowed only when all three of
// these relationship checks hold (with the default [Config] names):
//
//	Check(user:<subject>,  <action>,  <resource>)   the user holds the permission
//	Check(agent:<agent>,   delegate,  user:<subject>)   the user delegated to this agent
//	Check(agent:<agent>,   <action>,  <resource>)   the agent itself may do it
//
// The second check is what binds an agent to the user it acts for: the
// delegation is a relation on that user's own object, so an agent that
// user A delegated to holds nothing on user:B, and cannot carry A's
// delegation over to B (no confused deputy). The third check is the
// agent's own ceiling (which tools an administrator lets the agent use at
// all); it never adds to the user's permissions, and the user's
// permissions never stretch past it. The three checks use the same request
// context, [Request.AtLeast] and model; the relation names and the user and
// agent types are set in [ReBACConfig].
//
// A model that does this, in OpenFGA's DSL:
//
//	model
//	  schema 1.1
//
//	type user
//	  relations
//	    define delegate: [agent, agent with only_tools]
//
//	type agent
//
//	type team
//	  relations
//	    define member: [user]
//
//	type tool
//	  relations
//	    define invoker: [user, team#member, agent]
//	    define can_invoke: invoker
//
//	condition only_tools(resource: string, tools: list<string>) {
//	  resource in tools
//	}
//
// with the tuples
//
//	team:eng#member@user:anne
//	team:eng#member@user:bob
//	tool:github.create_issue#invoker@team:eng#member
//	tool:github.create_issue#invoker@agent:copilot
//	user:anne#delegate@agent:copilot
//
// Anne's copilot may create issues for her: anne can_invoke through team
// eng, anne delegates to copilot, and copilot may invoke the tool. The same
// copilot acting for Bob is denied with "user:bob has not delegated to
// agent:copilot", although Bob holds the permission and copilot holds the
// tool: Bob never delegated to it. The tuple
//
//	user:bob#delegate@agent:copilot with only_tools {"tools": ["tool:github.create_issue"]}
//
// lets copilot act for Bob on that tool alone. A grant the agent should
// hold for some users only can likewise be conditioned on subject.
//
// For every relationship check the point adds to the request context the
// keys subject (the user, "user:anne"), action and resource, so that model
// conditions can read them; a [Request.Context] holding one of them is
// rejected, so a caller cannot forge them. (As in OpenFGA, a value bound in
// a tuple's condition context wins over the request's: whoever writes
// conditional tuples must not bind these three, or the condition no longer
// depends on the call.)
//
// # Rego input
//
// Policies receive this input document:
//
//	input.subject.id         string
//	input.subject.attrs      object
//	input.agent.id           string, "" when the user calls directly
//	input.agent.client_id    string
//	input.agent.attrs        object
//	input.action             string, e.g. "can_invoke"
//	input.resource           string, e.g. "tool:github.create_issue"
//	input.tool               string
//	input.scopes             array of strings
//	input.risk.level         string
//	input.risk.score         number
//	input.source_ip          string, "" when unknown
//	input.time               string, RFC 3339 in UTC, e.g. "2026-11-27T17:18:38Z"
//	input.context            object
//	input.rebac.allowed      boolean; present only when ReBAC is on
//	input.rebac.path         array of strings: Decision.Path, e.g. "agent:copilot delegate user:anne"
//
// Since ReBAC denials end the decision before Rego runs, input.rebac.allowed
// is true whenever it is present; policies use input.rebac.path to require
// a particular grant.
//
// # Cache
//
// A decision is cached under the SHA-256 digest of a canonical encoding of
// everything it depends on: every field of the [Request] (attribute and
// context maps with their keys sorted and each value tagged with its Go
// type), and the generations of the ReBAC index and of the Rego policies,
// read before the engines are asked. A tuple write, a model change or a
// policy reload changes a generation, so every earlier entry stops matching
// at once. The ABAC rules are fixed for a Point's life. Errors are never
// cached; nor is a request holding an attribute value of a type the
// encoding does not know (anything but nil, bool, string, numbers,
// time.Time, time.Duration, json.Number, []string, []any, map[string]any,
// map[string]string), or nested deeper than 16 levels: it is decided every
// time. A SHA-256 digest rather than a fast hash, because a collision would
// return another request's decision and callers choose the attributes; it
// keeps entries at a fixed size too.
//
// Time-of-day rules are the hard part: a decision made at 17:59:59.9 must
// not be reused at 18:00:00.1 by a rule that ends work at 18:00. While the
// cache is on, the point therefore truncates [Request.Time] to a multiple
// of [CacheConfig.TTL] (in UTC; the TTL divides a day) before any engine
// sees it, and the truncated time is part of the key. A cached decision is
// then exactly the decision a fresh evaluation would give: the engines see
// time at the TTL's resolution (one second by default), hit or miss, and
// Explain does the same. Entries also expire TTL after they are written,
// which bounds what the key cannot cover: a Rego policy that reads
// time.now_ns() instead of input.time, or another node's tuple write that
// this node's index has not applied yet.
//
// The cache is bounded by [CacheConfig.Bytes]; a hit costs about one
// SHA-256 of a few hundred bytes and a lookup.
//
// # Security
//
//   - Deny wins: any engine denying denies. An engine error denies, is
//     returned wrapped in [ErrEngine], and is never cached; the returned
//     Decision is never Allowed with a non-nil error.
//   - An agent acts for a user only within that user's permissions, the
//     user's delegation to that agent, and the agent's own grant (see
//     above).
//   - Subject and agent IDs that would change the meaning of a ReBAC user
//     string (containing '#', '@' or spaces, or "*") are rejected with
//     [ErrInvalidRequest], as are an agent with attributes but no ID and
//     a resource that is not "type:id".
//   - [New] refuses a point with no engine, and an engine passed as a nil
//     pointer, so that a wiring mistake cannot turn a check off silently.
//   - With ReBAC off nothing checks delegation unless ABAC rules or Rego
//     policies do (New logs a warning).
package delegation
