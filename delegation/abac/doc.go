// Package abac evaluates attribute-based access rules written in CEL
// (github.com/google/cel-go) against one tool or model call.
//
// A [Config] lists [Rule]s. Each rule has an effect (allow or deny) and a
// boolean CEL expression over one typed variable, request, whose fields are
// checked when the rule is compiled, so a misspelt field is a load-time error
// naming the rule and the position:
//
//	request.subject.id          string
//	request.subject.attrs       map(string, dyn)
//	request.agent.id            string
//	request.agent.client_id     string
//	request.agent.attrs         map(string, dyn)
//	request.scopes              list(string)
//	request.tool                string
//	request.action              string
//	request.resource            string
//	request.risk.level          string
//	request.risk.score          double
//	request.source_ip           abac.IP (opaque)
//	request.time                timestamp
//	request.context             map(string, dyn)
//
// Besides the CEL standard library, rules may call:
//
//	in_cidr(request.source_ip, "10.0.0.0/8")   bool; IPv4 and IPv6; the first
//	                                           argument may also be a string;
//	                                           IPv4-mapped IPv6 addresses match
//	                                           as IPv4
//	hour(request.time)                         int 0-23 in Config.Timezone
//	weekday(request.time)                      int 0-6, Sunday is 0, in Config.Timezone
//	has_scope(request, "files:read")           bool, same as "files:read" in request.scopes
//
// CEL's own timestamp accessors also work and take an explicit zone, for
// example request.time.getHours("Europe/Berlin").
//
// [New] compiles every rule once; [Engine.Evaluate] runs them per call. Deny
// rules are evaluated first and any match denies. Then, if any allow rule is
// configured, at least one must match or the call is denied with the reason
// "no allow rule matched". An engine with no rules allows everything.
//
// # Security
//
//   - Fail closed: an evaluation error (a missing map key, a wrong attribute
//     type, an invalid CIDR, the cost limit exceeded, a cancelled context)
//     is returned as an error, and the returned [Decision] denies. Callers
//     must treat an error as a denial.
//   - Guard missing attributes with has(), e.g.
//     has(request.subject.attrs.dept) && request.subject.attrs.dept == "eng";
//     without it a missing key is an error, never a silent false.
//   - Every rule is bounded by [Config.CostLimit]. At compile time CEL's
//     static estimator computes each rule's worst-case cost, assuming nothing
//     about attribute sizes. A rule whose bound is within the limit runs
//     untracked (it cannot exceed it); any other rule, e.g. one that loops
//     over request.scopes or compares two request strings, runs with CEL's
//     runtime cost limit (cel.CostLimit) and checks the context every 64
//     comprehension iterations. Custom functions cost 1 per call.
//   - A rule must have type bool; anything else, including dyn (a bare map
//     attribute), is rejected at compile time: write attrs.flag == true.
//   - Literal CIDRs given to in_cidr are parsed at compile time.
package abac
