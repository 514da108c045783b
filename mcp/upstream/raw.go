package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync/atomic"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
)

// tools/call without decoding and encoding the call.
//
// mcp-go's client encodes a call's arguments from a map, decodes the
// result into typed content, and the gateway encodes it again to scan and
// forward it: most of a call's CPU time on the way up and back. Over
// Streamable HTTP, CallToolRaw sends the arguments as the gateway holds
// them (JSON) on the connection's transport, with what mcp-go's client
// would add (the 2026-07-28 request _meta, the Mcp-Method, Mcp-Name and
// Mcp-Param-* headers), and returns the result as the upstream wrote it.
// Over stdio, where mcp-go's client matches answers to its own request IDs,
// it takes CallTool's path.

// rawIDs numbers the raw requests; their IDs are strings, which mcp-go's
// client never uses, so they cannot collide with its own.
var rawIDs atomic.Uint64

// RawTool is a tool as the upstream lists it, prepared for CallToolRaw.
// It is immutable.
type RawTool struct {
	tool mcp.Tool
	// bound: arguments are mirrored in Mcp-Param-* headers (x-mcp-header).
	bound bool
	// header holds the standard headers of a 2026-07-28 call (Mcp-Method
	// and Mcp-Name), as mcp.StandardHeaders makes them; it is only read.
	header http.Header
}

// NewRawTool prepares t, as the upstream lists it, for CallToolRaw.
func NewRawTool(t mcp.Tool) *RawTool {
	h := make(http.Header, 2)
	h.Set(mcp.HeaderMethod, string(mcp.MethodToolsCall))
	if name, ok := mcp.EncodeHeaderValue(t.Name); ok {
		h.Set(mcp.HeaderName, name)
	}
	return &RawTool{tool: t, bound: len(mcp.ExtractParamHeaderBindings(&t)) > 0, header: h}
}

// CallToolRaw calls the tool t with args (a JSON object; nil for none) and
// returns the upstream's result, a JSON object. Retries (only if
// [Repeatable]), the breaker, timeouts and errors are CallTool's; a result
// larger than max_result_bytes is an ErrResultTooLarge.
func (u *Upstream) CallToolRaw(ctx context.Context, t *RawTool, args json.RawMessage) (json.RawMessage, error) {
	const method = string(mcp.MethodToolsCall)
	r, err := callConn(ctx, u, method, Repeatable(t.tool), func(ctx context.Context, c *conn) (json.RawMessage, error) {
		tr, ok := c.client.GetTransport().(*transport.StreamableHTTP)
		if !ok {
			return u.callToolDecoded(ctx, c.client, t.tool, args)
		}
		p := c.poster
		if u.viaTransport {
			p = nil
		}
		return callToolRaw(ctx, c.client, tr, p, t, args)
	})
	if err != nil {
		return nil, err
	}
	if int64(len(r)) > u.cfg.MaxResultBytes {
		return nil, u.wrap(method, ErrResultTooLarge, fmt.Errorf("%d bytes, more than max_result_bytes (%d)", len(r), u.cfg.MaxResultBytes))
	}
	return r, nil
}

// callToolDecoded is CallToolRaw through mcp-go's client.
func (u *Upstream) callToolDecoded(ctx context.Context, c *client.Client, t mcp.Tool, args json.RawMessage) (json.RawMessage, error) {
	var req mcp.CallToolRequest
	req.Params.Name = t.Name
	if len(args) > 0 {
		req.Params.Arguments = args
	}
	res, err := c.CallTool(ctx, req)
	if err != nil {
		return nil, err
	}
	return json.Marshal(res)
}

// errInputRequired: the upstream asked for more input (2026-07-28 multi
// round-trip), which the gateway's client cannot give, as mcp-go's client
// without handlers cannot.
var inputRequired = []byte(`"` + string(mcp.ResultTypeInputRequired) + `"`)

var errInputRequired = errors.New("the upstream asked the client for input, which the gateway cannot provide")

// callToolRaw calls t on c, through p when it is not nil and otherwise
// through mcp-go's transport.
func callToolRaw(ctx context.Context, c *client.Client, tr *transport.StreamableHTTP, p *httpPoster, t *RawTool, args json.RawMessage) (json.RawMessage, error) {
	if !c.IsInitialized() {
		return nil, errors.New("client not initialized")
	}
	if len(args) == 0 {
		args = nil
	}
	version := c.ProtocolVersion()
	modern := mcp.IsModernProtocol(version)
	params := rawParams{Name: t.tool.Name, Arguments: args}
	if modern {
		params.Meta = &rawMeta{ProtocolVersion: version, ClientCapabilities: c.GetClientCapabilities(), ClientInfo: clientInfo}
	}
	encoded, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("encode the call: %w", err)
	}
	var header http.Header
	if modern {
		// As mcp.StandardHeaders makes them, without decoding the params
		// again for the name; the tool's own unless arguments are bound.
		header = t.header
		if t.bound {
			header = t.header.Clone()
			for k, v := range mcp.GenerateParamHeaders(&t.tool, encoded) {
				header.Set(k, v)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, transport.NewError(err)
	}
	id := "subzero-" + strconv.FormatUint(rawIDs.Add(1), 10)
	var result json.RawMessage
	if p != nil {
		env, err := p.post(ctx, id, encoded, header)
		if err != nil {
			return nil, transport.NewError(err)
		}
		if env.Error != nil {
			return nil, env.Error.AsError()
		}
		result = env.Result
	} else {
		resp, err := tr.SendRequest(ctx, transport.JSONRPCRequest{
			JSONRPC: mcp.JSONRPC_VERSION,
			ID:      mcp.NewRequestId(id),
			Method:  string(mcp.MethodToolsCall),
			Params:  json.RawMessage(encoded),
			Header:  header,
		})
		if err != nil {
			return nil, transport.NewError(err)
		}
		if resp.Error != nil {
			return nil, resp.Error.AsError()
		}
		result = resp.Result
	}
	if i := firstNonSpace(result); i < 0 || result[i] != '{' {
		return nil, errors.New("the result is not a JSON object")
	}
	// The envelope's decoding checked the result is valid JSON; only a
	// result that may ask for input is decoded.
	if bytes.Contains(result, inputRequired) {
		var head struct {
			ResultType string `json:"resultType"`
		}
		if err := json.Unmarshal(result, &head); err != nil {
			return nil, fmt.Errorf("the result is not a JSON object: %w", err)
		}
		if head.ResultType == string(mcp.ResultTypeInputRequired) {
			return nil, errInputRequired
		}
	}
	return result, nil
}

// rawParams are tools/call's params as mcp-go's client encodes them.
type rawParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments,omitempty"`
	Meta      *rawMeta        `json:"_meta,omitempty"`
}

// rawMeta is the request _meta of protocol 2026-07-28.
type rawMeta struct {
	ProtocolVersion    string                 `json:"io.modelcontextprotocol/protocolVersion"`
	ClientCapabilities mcp.ClientCapabilities `json:"io.modelcontextprotocol/clientCapabilities"`
	ClientInfo         mcp.Implementation     `json:"io.modelcontextprotocol/clientInfo"`
}

// firstNonSpace returns the index of the first byte of b that is not JSON
// white space, or -1.
func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' {
			return i
		}
	}
	return -1
}
