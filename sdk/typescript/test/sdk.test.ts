// @tresor/sdk against a real tresor server: every function, a missing name, a refused read, a bad
// token, retries on 429, webhooks resolved server-side; and at the end, no value stored here is in
// the server's log or in any error message the SDK raised.

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import {
  Conflict,
  ConnectionError,
  createClient,
  InvalidRequest,
  NotFound,
  PermissionDenied,
  RateLimited,
  ServerError,
  TokenExpired,
  TresorError,
  Unauthenticated,
  type TresorClient,
} from "@tresor/sdk";
import { Server } from "./server.js";

/** Every value this file stores, checked against the server log and every error message. */
const VALUES: string[] = [];
function value(label: string): string {
  const v = `${label}-${randomBytes(8).toString("hex")}`;
  VALUES.push(v);
  return v;
}
/** Every error the SDK threw in these tests. */
const ERRORS: TresorError[] = [];
async function rejects<E extends TresorError>(work: Promise<unknown>, type: new (...a: any[]) => E): Promise<E> {
  try {
    await work;
  } catch (e) {
    assert.ok(e instanceof type, `expected ${type.name}, got ${String(e)}`);
    assert.ok(e instanceof TresorError);
    ERRORS.push(e);
    return e;
  }
  assert.fail(`expected ${type.name}, but the call succeeded`);
}

/** A destination for webhooks that answers with what it received. */
function receiver(): Promise<{ server: HttpServer; port: number; seen: { headers: IncomingMessage["headers"]; body: string }[] }> {
  const seen: { headers: IncomingMessage["headers"]; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      seen.push({ headers: req.headers, body });
      res.writeHead(201, { "Content-Type": "text/plain" });
      res.end(`you sent ${req.headers.authorization} and ${body}`);
    });
  });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, port: (server.address() as AddressInfo).port, seen })),
  );
}

after(() => {
  assert.ok(ERRORS.length >= 15, `the error cases ran (${ERRORS.length})`);
  for (const e of ERRORS) {
    for (const v of VALUES) {
      assert.ok(!e.message.includes(v) && !String(e.stack).includes(v), `a value is in a ${e.name}'s message`);
    }
  }
});

describe("@tresor/sdk against a server", () => {
  let server: Server;
  let hook: Awaited<ReturnType<typeof receiver>>;
  let tresor: TresorClient;
  const stripe = value("sk_live");
  const sendgrid = value("SG");
  const dbPassword = value("db-pw");

  before(async () => {
    hook = await receiver();
    server = await Server.start({ TRESOR_WEBHOOK_ALLOW_HOSTS: `127.0.0.1:${hook.port}` });
    await server.admin("POST", "/api/v1/envs", { name: "dev" });
    for (const env of ["default", "dev"]) {
      for (const name of ["api-keys", "database"]) {
        await server.admin("POST", `/api/v1/envs/${env}/vaults`, { name });
      }
    }
    tresor = createClient({ addr: server.addr, token: server.adminToken });
  });

  after(async () => {
    // The log scan: no value stored in any test reached the server's log, and no error message
    // the SDK raised holds one.
    const log = server.log();
    assert.ok(log.includes("/api/v1/resolve"), "the requests were logged");
    for (const v of VALUES) {
      assert.ok(!log.includes(v), "a stored value is in the server log");
    }
    await server.stop();
    hook.server.close();
  });

  test("put, then get: a secret, a variable, a key with a slash", async () => {
    const put = await tresor.secrets.put("api-keys", "stripe-secret-key", stripe);
    assert.equal(put.key, "stripe-secret-key");
    assert.equal(put.kind, "secret");
    assert.equal(put.version, 1);
    assert.equal(put.value, undefined, "a secret's metadata carries no value");
    await tresor.secrets.put("api-keys", "sendgrid-api-key", sendgrid);
    const url = await tresor.secrets.put("api-keys", "api-url", "https://api.example.com", { kind: "variable" });
    assert.equal(url.kind, "variable");
    await tresor.secrets.put("database", "db/password", dbPassword);

    assert.equal(await tresor.secrets.get("api-keys", "stripe-secret-key"), stripe);
    assert.equal(await tresor.secrets.get("api-keys", "api-url"), "https://api.example.com");
    assert.equal(await tresor.secrets.get("database", "db/password"), dbPassword);
    assert.deepEqual(await tresor.secrets.getBytes("database", "db/password"), new TextEncoder().encode(dbPassword));

    const second = value("sk_live-v2");
    assert.equal((await tresor.secrets.put("api-keys", "stripe-secret-key", second)).version, 2);
    assert.equal(await tresor.secrets.get("api-keys", "stripe-secret-key"), second);
    await tresor.secrets.put("api-keys", "stripe-secret-key", stripe, { expectedVersion: 2, description: "Stripe" });
    // Check-and-set at a stale version: a Conflict, the value not in its message.
    await rejects(tresor.secrets.put("api-keys", "stripe-secret-key", value("stale"), { expectedVersion: 1 }), Conflict);
    assert.equal(await tresor.secrets.get("api-keys", "stripe-secret-key"), stripe);
  });

  test("a missing name is undefined, for get and getAll", async () => {
    assert.equal(await tresor.secrets.get("api-keys", "no-such-key"), undefined);
    assert.equal(await tresor.secrets.getBytes("api-keys", "no-such-key"), undefined);
    assert.equal(await tresor.secrets.get("no-such-vault", "x"), undefined);
  });

  test("getAll: the values in order in one request, undefined for a missing name", async () => {
    const before = countRequests(server.log(), "/api/v1/resolve");
    const got = await tresor.secrets.getAll("api-keys", ["sendgrid-api-key", "no-such-key", "stripe-secret-key"]);
    assert.deepEqual(got, [sendgrid, undefined, stripe]);
    assert.equal(countRequests(server.log(), "/api/v1/resolve"), before + 1, "one request for the batch");
    assert.deepEqual(await tresor.secrets.getAll("api-keys", []), []);
    assert.deepEqual(await tresor.secrets.getAll("database", ["db/password", "db/password"]), [dbPassword, dbPassword]);
  });

  test("ls lists names and metadata, a variable's value but never a secret's; with a prefix", async () => {
    const entries = await tresor.secrets.ls("api-keys");
    assert.deepEqual(entries.map((e) => e.key), ["api-url", "sendgrid-api-key", "stripe-secret-key"]);
    const byKey = Object.fromEntries(entries.map((e) => [e.key, e]));
    assert.equal(byKey["api-url"]!.value, "https://api.example.com");
    assert.equal(byKey["stripe-secret-key"]!.value, undefined);
    assert.equal(byKey["stripe-secret-key"]!.description, "Stripe");
    assert.equal(byKey["stripe-secret-key"]!.version, 3);
    assert.ok(!JSON.stringify(entries).includes(stripe));
    assert.deepEqual((await tresor.secrets.ls("api-keys", { prefix: "s" })).map((e) => e.key), [
      "sendgrid-api-key",
      "stripe-secret-key",
    ]);
    assert.deepEqual(await tresor.secrets.ls("database", { environment: "dev" }), []);
  });

  test("ls pages through a vault larger than one page", async () => {
    await server.admin("POST", "/api/v1/envs/dev/vaults", { name: "many" });
    const entries: Record<string, { value: string; kind: string }> = {};
    for (let i = 0; i < 1205; i++) entries[`k-${String(i).padStart(4, "0")}`] = { value: `v${i}`, kind: "variable" };
    await server.admin("POST", "/api/v1/envs/dev/vaults/many/entries", { entries });
    const listed = await tresor.secrets.ls("many", { environment: "dev" });
    assert.equal(listed.length, 1205);
    assert.equal(listed[1204]!.key, "k-1204");
  });

  test("rm deletes; a deleted or missing name is then undefined, and rm of it is NotFound", async () => {
    const old = value("old");
    await tresor.secrets.put("api-keys", "old-key", old);
    await tresor.secrets.rm("api-keys", "old-key");
    assert.equal(await tresor.secrets.get("api-keys", "old-key"), undefined);
    await rejects(tresor.secrets.rm("api-keys", "old-key"), NotFound);
    // Purge removes the soft-deleted entry for good.
    await tresor.secrets.rm("api-keys", "old-key", { purge: true });
    await rejects(tresor.secrets.rm("api-keys", "old-key", { purge: true }), NotFound);
    await tresor.secrets.put("database", "tmp/x", value("tmp"));
    await tresor.secrets.rm("database", "tmp/x", { purge: true });
    assert.equal(await tresor.secrets.get("database", "tmp/x"), undefined);
  });

  test("environments: per call, and from TRESOR_ADDR, TRESOR_TOKEN and TRESOR_ENV", async () => {
    const devValue = value("dev-db-pw");
    await tresor.secrets.put("database", "db/password", devValue, { environment: "dev" });
    assert.equal(await tresor.secrets.get("database", "db/password", { environment: "dev" }), devValue);
    assert.deepEqual(await tresor.secrets.getAll("database", ["db/password"], { environment: "dev" }), [devValue]);

    const saved = { ...process.env };
    try {
      process.env.TRESOR_ADDR = server.addr;
      process.env.TRESOR_TOKEN = server.adminToken;
      process.env.TRESOR_ENV = "dev";
      const fromEnv = createClient();
      assert.equal(fromEnv.environment, "dev");
      assert.equal(fromEnv.addr, server.addr);
      assert.equal(await fromEnv.secrets.get("database", "db/password"), devValue);
      // Explicit options win over the environment.
      assert.equal(await createClient({ environment: "default" }).secrets.get("database", "db/password"), dbPassword);
      delete process.env.TRESOR_ADDR;
      assert.throws(() => createClient(), InvalidRequest);
      process.env.TRESOR_ADDR = "127.0.0.1:8200";
      assert.throws(() => createClient(), /must start with http/);
      process.env.TRESOR_ADDR = server.addr;
      delete process.env.TRESOR_TOKEN;
      assert.throws(() => createClient(), /TRESOR_TOKEN/);
    } finally {
      for (const k of ["TRESOR_ADDR", "TRESOR_TOKEN", "TRESOR_ENV"]) {
        if (saved[k] === undefined) delete process.env[k];
        else process.env[k] = saved[k];
      }
    }
  });

  test("a refused read throws PermissionDenied: it is not missing", async () => {
    const token = await server.principal("app:notifier", [["default/api-keys/*", "read"]]);
    const notifier = createClient({ addr: server.addr, token });
    assert.equal(await notifier.secrets.get("api-keys", "sendgrid-api-key"), sendgrid);
    assert.equal(await notifier.secrets.get("api-keys", "no-such-key"), undefined);
    const e = await rejects(notifier.secrets.get("database", "db/password"), PermissionDenied);
    assert.equal(e.kind, "denied");
    assert.equal(e.status, 403);
    const batch = await rejects(notifier.secrets.getAll("database", ["db/password", "nope"]), PermissionDenied);
    assert.match(batch.message, /db\/password/);
    await rejects(notifier.secrets.put("api-keys", "sendgrid-api-key", value("refused-write")), PermissionDenied);
    await rejects(notifier.secrets.ls("database"), PermissionDenied);
    assert.equal(await tresor.secrets.get("api-keys", "sendgrid-api-key"), sendgrid, "the refused write changed nothing");
  });

  test("a bad token throws Unauthenticated; an expired one TokenExpired", async () => {
    const bad = createClient({ addr: server.addr, token: "tsr_not-a-real-token" });
    const e = await rejects(bad.secrets.get("api-keys", "stripe-secret-key"), Unauthenticated);
    assert.equal(e.status, 401);
    assert.equal(e.kind, "unauthenticated");
    await rejects(bad.secrets.getAll("api-keys", ["stripe-secret-key"]), Unauthenticated);
    await rejects(bad.secrets.put("api-keys", "x", value("bad-token-write")), Unauthenticated);
    assert.ok(TokenExpired.prototype instanceof Unauthenticated);
  });

  test("an unreachable server throws ConnectionError", async () => {
    const nowhere = createClient({ addr: "http://127.0.0.1:1", token: server.adminToken, retries: 1 });
    const e = await rejects(nowhere.secrets.get("api-keys", "stripe-secret-key"), ConnectionError);
    assert.equal(e.kind, "connection");
    assert.equal(e.status, 0);
  });

  test("webhooks: { vault, key } references resolved on the server, the answer masked", async () => {
    const token = value("ext-token");
    await tresor.secrets.put("api-keys", "external-api-token", token);
    const answer = await tresor.webhooks.send({
      method: "POST",
      url: `http://127.0.0.1:${hook.port}/orders`,
      headers: { Authorization: { vault: "api-keys", key: "external-api-token" }, "X-Order": "ord_42" },
      body: { orderId: "ord_42", key: { vault: "api-keys", key: "sendgrid-api-key" } },
    });
    assert.equal(answer.status, 201);
    const seen = hook.seen.at(-1)!;
    assert.equal(seen.headers.authorization, token, "the destination got the value");
    assert.equal(seen.headers["x-order"], "ord_42");
    assert.deepEqual(JSON.parse(seen.body), { orderId: "ord_42", key: sendgrid });
    assert.ok(!answer.body.includes(token) && !answer.body.includes(sendgrid), "the echoed values are masked");
    assert.match(answer.body, /\[REDACTED\]/);

    // A reference the token may not read: refused, nothing sent.
    const reader = await server.principal("app:hooks", [
      ["default/*", "webhook"],
      ["default/api-keys/external-*", "read"],
    ]);
    const sent = hook.seen.length;
    const hooks = createClient({ addr: server.addr, token: reader });
    const ok = await hooks.webhooks.send({
      method: "GET",
      url: `http://127.0.0.1:${hook.port}/ping`,
      headers: { Authorization: { vault: "api-keys", key: "external-api-token" } },
    });
    assert.equal(ok.status, 201);
    await rejects(
      hooks.webhooks.send({
        method: "POST",
        url: `http://127.0.0.1:${hook.port}/orders`,
        headers: { Authorization: { vault: "database", key: "db/password" } },
      }),
      PermissionDenied,
    );
    // A destination that is not allowed: refused too.
    await rejects(tresor.webhooks.send({ method: "GET", url: "http://127.0.0.1:1/" }), PermissionDenied);
    assert.equal(hook.seen.length, sent + 1, "nothing was sent for the refused calls");
  });
});

/** How many requests the server logged for `route` (distinct request ids; logged before the answer). */
function countRequests(log: string, route: string): number {
  const ids = new Set<string>();
  for (const line of log.split("\n")) {
    const m = /request_id=(\S+) method="\w+" route="([^"]+)"/.exec(line);
    if (m && m[2] === route) ids.add(m[1]!);
  }
  return ids.size;
}

describe("rate limits", () => {
  test("a real server's 429: RateLimited with Retry-After, when waiting is not allowed", async () => {
    const server = await Server.start({ TRESOR_RATE_ENTRIES: "2/min" });
    try {
      const tresor = createClient({ addr: server.addr, token: server.adminToken, maxRetryWaitMs: 500 });
      await server.admin("POST", "/api/v1/envs/default/vaults", { name: "api-keys" });
      const v = value("rate");
      await tresor.secrets.put("api-keys", "k", v);
      assert.equal(await tresor.secrets.get("api-keys", "k"), v);
      const e = await rejects(tresor.secrets.get("api-keys", "k"), RateLimited);
      assert.equal(e.status, 429);
      assert.equal(e.kind, "rate_limited");
      assert.ok(e.retryAfterSeconds !== undefined && e.retryAfterSeconds > 0, `Retry-After: ${e.retryAfterSeconds}`);
      assert.ok(!server.log().includes(v));
    } finally {
      await server.stop();
    }
  });

  test("429 and 503 are retried after Retry-After, then the answer is used", async () => {
    let calls = 0;
    const stub = createServer((req, res) => {
      calls++;
      if (calls === 1) {
        res.writeHead(429, { "Retry-After": "0", "Content-Type": "application/json" });
        res.end(JSON.stringify({ error: "slow down", kind: "rate_limited" }));
      } else if (calls === 2) {
        res.writeHead(503, { "Content-Type": "text/plain" });
        res.end("proxy says no");
      } else {
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ values: { a: "A" }, missing: ["b"], denied: [] }));
      }
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
    const addr = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    try {
      assert.deepEqual(await createClient({ addr, token: "t" }).secrets.getAll("v", ["a", "b"]), ["A", undefined]);
      assert.equal(calls, 3);
      calls = 0;
      const e = await rejects(createClient({ addr, token: "t", retries: 0 }).secrets.getAll("v", ["a"]), RateLimited);
      assert.equal(e.retryAfterSeconds, 0);
      assert.equal(calls, 1);
    } finally {
      stub.close();
    }
  });

  test("a write answered 503 is not sent again (it may have landed)", async () => {
    const methods: string[] = [];
    const stub = createServer((req, res) => {
      methods.push(req.method!);
      res.writeHead(503, { "Retry-After": "0", "Content-Type": "application/json" });
      res.end(JSON.stringify({ error: "the database is unavailable", kind: "unavailable" }));
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
    const addr = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    try {
      await rejects(createClient({ addr, token: "t" }).secrets.put("v", "k", "not-sent-twice"), ServerError);
      assert.deepEqual(methods, ["PUT"]);
      methods.length = 0;
      await rejects(createClient({ addr, token: "t", retries: 2 }).secrets.getAll("v", ["a"]), ServerError);
      assert.deepEqual(methods, ["POST", "POST", "POST"], "a read sent as POST is retried");
    } finally {
      stub.close();
    }
  });
});

describe("answers that are not tresor's (a proxy's)", () => {
  test("are judged by their status, and a body that is not JSON is never quoted", async () => {
    const leaked = value("proxy-echo");
    const stub = createServer((req, res) => {
      if (req.url!.includes("/values/text")) {
        res.writeHead(200, { "Content-Type": "text/plain" });
        res.end(leaked);
      } else if (req.url!.includes("/values/gone")) {
        res.writeHead(404);
        res.end("<html>not here</html>");
      } else {
        res.writeHead(401);
        res.end(leaked);
      }
    });
    await new Promise<void>((r) => stub.listen(0, "127.0.0.1", r));
    const tresor = createClient({ addr: `http://127.0.0.1:${(stub.address() as AddressInfo).port}/`, token: "t" });
    try {
      const e = await rejects(tresor.secrets.get("v", "text"), ServerError);
      assert.match(e.message, /not JSON/);
      assert.equal(await tresor.secrets.get("v", "gone"), undefined);
      const u = await rejects(tresor.secrets.get("v", "other"), Unauthenticated);
      assert.equal(u.kind, "unauthenticated");
      assert.match(u.message, /HTTP 401/);
    } finally {
      stub.close();
    }
  });
});
