// Drives Calimero's published client library against a running node, as an app would:
// JsonRpcClient.execute (a call, a read, an app error, an unknown method) and
// WsSubscriptionsClient (the StateMutation of a call). Prints one JSON object of what the
// library returned. Settings come from the environment: NODE_URL, TOKEN, CONTEXT_ID.
//
// The library comes from npm (scripts/setup.sh unpacks it into ./calimero-client). Only its RPC
// and subscription modules are loaded, so its UI dependencies (React, near-api-js) are not
// needed; Node.js 20 has no global WebSocket, so the `ws` package stands in for the browser's.
import WebSocket from "ws";

globalThis.WebSocket = WebSocket;
const { JsonRpcClient } = await import("./calimero-client/lib/rpc/jsonrpc.js");
const { WsSubscriptionsClient } = await import("./calimero-client/lib/subscriptions/ws.js");

const node = process.env.NODE_URL;
const token = process.env.TOKEN;
const contextId = process.env.CONTEXT_ID;
const auth = { headers: { Authorization: `Bearer ${token}` } };
const rpc = new JsonRpcClient(node, "/jsonrpc", 20000);
const call = (method, argsJson) => rpc.execute({ contextId, method, argsJson, executorPublicKey: "" }, auth);

const out = {};
out.set = await call("set", { key: "from-js", value: "hello" });
out.get = await call("get", { key: "from-js" });
out.appError = await call("get_result", { key: "missing" });
out.unknownMethod = await call("nope", {});

// Browsers cannot set headers on a WebSocket: the token goes in the path's query.
const ws = new WsSubscriptionsClient(node.replace(/^http/, "ws"), `/ws?token=${encodeURIComponent(token)}`);
await ws.connect();
const pushed = new Promise((resolve, reject) => {
  ws.addCallback(resolve);
  setTimeout(() => reject(new Error("no event within 20 s")), 20000);
});
ws.subscribe([contextId]);
// The library does not wait for the subscription's confirmation; give it a moment.
await new Promise((resolve) => setTimeout(resolve, 500));
await call("set", { key: "watched", value: "live" });
out.event = await pushed;
ws.disconnect();

console.log(JSON.stringify(out));
