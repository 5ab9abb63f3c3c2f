/**
 * @tresor/sdk: read and write tresor secrets from Node.js (>= 18), over the native API
 * (`/api/v1`) with the global `fetch`; no runtime dependencies.
 *
 * ```ts
 * import { createClient } from "@tresor/sdk";
 * const { secrets } = createClient(); // TRESOR_ADDR, TRESOR_TOKEN, TRESOR_ENV
 * const key = await secrets.get("api-keys", "stripe-secret-key"); // string | undefined
 * ```
 *
 * Values are plain strings to the caller and appear nowhere else: not in an error's message, not
 * in anything this module logs (it logs nothing).
 *
 * @module
 */

// ----- names -----

/**
 * Which vaults and keys a client may name: vault → union of its key names. `tresor codegen
 * typescript -f tresor.yaml` writes one (`interface SecretNames`) from a declarative config;
 * `createClient<SecretNames>()` then refuses, at compile time, a vault or key the config does not
 * declare. Without it any string is accepted.
 */
export type NameMap<N> = { [V in keyof N]: string };

/** Any vault, any key: the names of a client created without a name map. */
export type AnyNames = Record<string, string>;

/** The vault names of a name map. */
export type VaultOf<N> = Extract<keyof N, string>;

/** The key names of vault `V`. */
export type KeyOf<N, V extends keyof N> = Extract<N[V], string>;

/** A `{ vault, key }` reference, as Tailor's webhook headers write it; tresor fills it in server-side. */
export type SecretRef<N extends NameMap<N> = AnyNames> = { [V in VaultOf<N>]: { vault: V; key: KeyOf<N, V> } }[VaultOf<N>];

// ----- options and documents -----

/** How to reach the server. Unset fields come from the process environment. */
export interface ClientOptions {
  /** The server, `http(s)://host:port`; default `TRESOR_ADDR`. */
  addr?: string;
  /** A tresor token (`tsr_...`); default `TRESOR_TOKEN`. */
  token?: string;
  /** The environment calls act in unless they name one; default `TRESOR_ENV`, else `default`. */
  environment?: string;
  /** Time allowed for each HTTP request, in milliseconds (default 30 000). */
  timeoutMs?: number;
  /**
   * How many times a request refused with 429 (or a read refused with 503) is sent again, after
   * the server's `Retry-After` (default 3); reads are also retried after a connection error.
   */
  retries?: number;
  /** The longest wait before one retry, in milliseconds (default 30 000); a longer `Retry-After` fails at once. */
  maxRetryWaitMs?: number;
  /** The `fetch` to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** Options every call on entries takes. */
export interface CallOptions {
  /** The environment of this call, instead of the client's. */
  environment?: string;
}

/** `secret` (encrypted, never listed with its value) or `variable` (plain configuration). */
export type EntryKind = "secret" | "variable";

export interface PutOptions extends CallOptions {
  /** `secret` (default) or `variable`. */
  kind?: EntryKind;
  /** Check-and-set: write only if the entry is at this version (0: only if it does not exist). */
  expectedVersion?: number;
  description?: string;
}

export interface ListOptions extends CallOptions {
  /** Only keys starting with this. */
  prefix?: string;
}

export interface RemoveOptions extends CallOptions {
  /** Remove for good, with every version, instead of a soft delete that `tresor undelete` recovers. */
  purge?: boolean;
}

/** An entry's metadata. `value` is set for variables only; a secret's value is never listed. */
export interface EntryInfo {
  key: string;
  kind: EntryKind;
  version: number;
  createdAt: string;
  updatedAt: string;
  editedBy: string;
  description?: string;
  tags: { key: string; value: string }[];
  expiresAt?: string;
  /** Where the entry lives, when read through a branch. */
  environment?: string;
  value?: string;
}

/** A JSON value; in a webhook's body, `{ vault, key }` objects are references. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** A request for tresor to send, with references resolved on the server: the caller never holds the values. */
export interface WebhookRequest<N extends NameMap<N> = AnyNames> {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD";
  /** A destination on the server's allow-list (`TRESOR_WEBHOOK_ALLOW_HOSTS`). */
  url: string;
  /** Header values: text, or a `{ vault, key }` reference (the whole header is the secret). */
  headers?: Record<string, string | SecretRef<N>>;
  /** A string is sent as is; other JSON is sent as JSON, its `{ vault, key }` objects resolved. */
  body?: Json;
  /** The environment of the referenced vaults, instead of the client's. */
  environment?: string;
}

/** The destination's answer, every resolved value masked (`[REDACTED]`). */
export interface WebhookResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

// ----- errors -----

/**
 * Every failure of this SDK. `kind` is the server's error kind (`not_found`, `denied`,
 * `unauthenticated`, `expired`, `conflict`, `already_exists`, `rate_limited`, `invalid`, `limit`,
 * `too_large`, `upstream`, `unavailable`, `out_of_space`, `internal`), or `connection` when no
 * answer came. The message names the
 * call and the server's reason, never a value.
 */
export class TresorError extends Error {
  readonly kind: string;
  /** The HTTP status, 0 when no answer came. */
  readonly status: number;
  constructor(message: string, kind: string, status: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.kind = kind;
    this.status = status;
  }
}

/** The entry, vault or environment does not exist (or is deleted). */
export class NotFound extends TresorError {}
/** The token may not do this (no grant, or a name outside its binding). A refusal is never "missing". */
export class PermissionDenied extends TresorError {}
/** No valid token: missing, unknown or revoked. */
export class Unauthenticated extends TresorError {}
/** The token has expired. */
export class TokenExpired extends Unauthenticated {}
/** A version mismatch (check-and-set), a non-empty vault, a managed vault. */
export class Conflict extends TresorError {}
/** The thing to create exists already. */
export class AlreadyExists extends Conflict {}
/** A rate limit refused the request (after the retries the client was allowed). */
export class RateLimited extends TresorError {
  /** The server's `Retry-After`, in seconds, when it sent one. */
  readonly retryAfterSeconds: number | undefined;
  constructor(message: string, kind: string, status: number, retryAfterSeconds: number | undefined) {
    super(message, kind, status);
    this.retryAfterSeconds = retryAfterSeconds;
  }
}
/** The request is malformed: a bad name, an unknown field, too many names. */
export class InvalidRequest extends TresorError {}
/** A limit of the server (entries per vault, value size) is reached. */
export class LimitExceeded extends TresorError {}
/** A webhook destination failed or could not be reached. */
export class UpstreamError extends TresorError {}
/** The server failed, or answered something this SDK does not understand. */
export class ServerError extends TresorError {}
/** No answer: the server is unreachable, or the request timed out. */
export class ConnectionError extends TresorError {}
/** The value is not UTF-8 text; read it with `secrets.getBytes`. */
export class NotText extends TresorError {}

const ERRORS: Record<string, new (message: string, kind: string, status: number) => TresorError> = {
  not_found: NotFound,
  denied: PermissionDenied,
  unauthenticated: Unauthenticated,
  expired: TokenExpired,
  conflict: Conflict,
  already_exists: AlreadyExists,
  invalid: InvalidRequest,
  limit: LimitExceeded,
  too_large: LimitExceeded,
  upstream: UpstreamError,
  unavailable: ServerError,
  out_of_space: ServerError,
  internal: ServerError,
};

/** The kind an answer without one (a proxy's) is judged to have, from its status. */
function kindOfStatus(status: number): string {
  switch (status) {
    case 400:
      return "invalid";
    case 401:
      return "unauthenticated";
    case 403:
      return "denied";
    case 404:
      return "not_found";
    case 409:
      return "conflict";
    case 413:
      return "too_large";
    case 429:
      return "rate_limited";
    case 502:
      return "upstream";
    default:
      return "internal";
  }
}

function errorOf(what: string, status: number, kind: string, reason: string, retryAfter?: number): TresorError {
  const message = `${what}: ${reason}`;
  if (kind === "rate_limited") return new RateLimited(message, kind, status, retryAfter);
  const Class = ERRORS[kind] ?? ServerError;
  return new Class(message, kind, status);
}

// ----- the client -----

/** Tailor's `secrets` shape, plus writes, listing and deletion. */
export interface Secrets<N extends NameMap<N> = AnyNames> {
  /** The value of `name` in `vault`, `undefined` when it does not exist; a refused read throws {@link PermissionDenied}. */
  get<V extends VaultOf<N>>(vault: V, name: KeyOf<N, V>, options?: CallOptions): Promise<string | undefined>;
  /** Like {@link get} for a value that is not UTF-8 text. */
  getBytes<V extends VaultOf<N>>(vault: V, name: KeyOf<N, V>, options?: CallOptions): Promise<Uint8Array | undefined>;
  /**
   * The values of `names` in `vault`, in their order, in ONE request; `undefined` for each name
   * that does not exist. If any name is refused, throws {@link PermissionDenied} naming them.
   */
  getAll<V extends VaultOf<N>>(
    vault: V,
    names: readonly KeyOf<N, V>[],
    options?: CallOptions,
  ): Promise<(string | undefined)[]>;
  /** Writes a new version of `name` (a secret unless `kind: "variable"`) and answers its metadata. */
  put<V extends VaultOf<N>>(vault: V, name: KeyOf<N, V>, value: string, options?: PutOptions): Promise<EntryInfo>;
  /** Every entry of `vault` (page by page), sorted by key; secrets without their values. */
  ls<V extends VaultOf<N>>(vault: V, options?: ListOptions): Promise<EntryInfo[]>;
  /** Deletes `name` (recoverable until purged, unless `purge: true`); throws {@link NotFound} when it does not exist. */
  rm<V extends VaultOf<N>>(vault: V, name: KeyOf<N, V>, options?: RemoveOptions): Promise<void>;
}

export interface Webhooks<N extends NameMap<N> = AnyNames> {
  /**
   * Has the server send `request`, its `{ vault, key }` references resolved with this token's
   * grants (`webhook` access on the environment, `read` on each secret). Answers the
   * destination's response, values masked; a refusal throws.
   */
  send(request: WebhookRequest<N>): Promise<WebhookResponse>;
}

export interface TresorClient<N extends NameMap<N> = AnyNames> {
  readonly secrets: Secrets<N>;
  readonly webhooks: Webhooks<N>;
  /** The server this client talks to. */
  readonly addr: string;
  /** The environment calls act in unless they name one. */
  readonly environment: string;
}

function env(name: string): string | undefined {
  const v = globalThis.process?.env?.[name];
  return v === undefined || v === "" ? undefined : v;
}

/** One path segment; a key is one segment too (its `/` sent as `%2F`, which the server accepts). */
function seg(s: string): string {
  const e = encodeURIComponent(s);
  // `.` and `..` would be folded away by URL normalisation.
  return e === "." || e === ".." ? e.replace(/\./g, "%2E") : e;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Seconds from a `Retry-After` header (a number of seconds or an HTTP date). */
function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined;
  const n = Number(header);
  if (Number.isFinite(n) && n >= 0) return n;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - Date.now()) / 1000);
}

interface EntryDoc {
  key: string;
  kind: EntryKind;
  version: number;
  created_at: string;
  updated_at: string;
  edited_by: string;
  description?: string;
  tags: { key: string; value: string }[];
  expires_at?: string;
  environment?: string;
  value?: string;
  value_base64?: string;
}

function entryInfo(d: EntryDoc): EntryInfo {
  const info: EntryInfo = {
    key: d.key,
    kind: d.kind,
    version: d.version,
    createdAt: d.created_at,
    updatedAt: d.updated_at,
    editedBy: d.edited_by,
    tags: d.tags ?? [],
  };
  if (d.description !== undefined) info.description = d.description;
  if (d.expires_at !== undefined) info.expiresAt = d.expires_at;
  if (d.environment !== undefined) info.environment = d.environment;
  if (d.value !== undefined) info.value = d.value;
  else if (d.value_base64 !== undefined) info.value = Buffer.from(d.value_base64, "base64").toString("utf8");
  return info;
}

/**
 * A client of the tresor server. Pass `SecretNames` from `tresor codegen typescript` to have
 * vault and key names checked at compile time:
 *
 * ```ts
 * import type { SecretNames } from "./secrets.js"; // tresor codegen typescript -f tresor.yaml > secrets.d.ts
 * const { secrets } = createClient<SecretNames>();
 * await secrets.get("api-keys", "strpe-secret-key"); // error TS2345
 * ```
 */
export function createClient<N extends NameMap<N> = AnyNames>(options: ClientOptions = {}): TresorClient<N> {
  const addr = (options.addr ?? env("TRESOR_ADDR"))?.replace(/\/+$/, "");
  const token = options.token ?? env("TRESOR_TOKEN");
  const environment = options.environment ?? env("TRESOR_ENV") ?? "default";
  if (addr === undefined) {
    throw new InvalidRequest("no server configured: pass `addr` or set TRESOR_ADDR", "invalid", 0);
  }
  if (!/^https?:\/\//.test(addr)) {
    throw new InvalidRequest(`the server address must start with http:// or https://, not ${JSON.stringify(addr.slice(0, 40))}`, "invalid", 0);
  }
  if (token === undefined) {
    throw new InvalidRequest("no token: pass `token` or set TRESOR_TOKEN", "invalid", 0);
  }
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== "function") {
    throw new InvalidRequest("no global fetch: tresor's SDK needs Node.js 18 or later", "invalid", 0);
  }
  const timeoutMs = options.timeoutMs ?? 30_000;
  const retries = options.retries ?? 3;
  const maxRetryWaitMs = options.maxRetryWaitMs ?? 30_000;

  /**
   * One call: the answer's JSON for a 2xx (undefined for 204), else the typed error. `what` names
   * the call in messages (method and path: names, never a value).
   */
  async function call<T>(method: string, path: string, body?: unknown, idempotent = method === "GET"): Promise<T> {
    const what = `${method} ${path.split("?")[0]}`;
    const headers: Record<string, string> = { Authorization: `Bearer ${token}`, Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let resp: Response;
      try {
        resp = await doFetch(addr + path, { method, headers, body: payload, signal: AbortSignal.timeout(timeoutMs) });
      } catch (e) {
        if (idempotent && attempt < retries) {
          await sleep(Math.min(maxRetryWaitMs, 100 * 2 ** attempt));
          continue;
        }
        const why = e instanceof Error && e.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : "the server could not be reached";
        throw new ConnectionError(`${what}: ${why} (${addr})`, "connection", 0, { cause: e });
      }
      if (resp.ok) {
        if (resp.status === 204) return undefined as T;
        const text = await resp.text();
        try {
          return JSON.parse(text) as T;
        } catch {
          // Not JSON (a proxy's page?). JSON.parse's own message may quote the text: not passed on.
          throw new ServerError(`${what}: the answer (HTTP ${resp.status}) is not JSON`, "internal", resp.status);
        }
      }
      const text = await resp.text();
      let doc: { error?: unknown; kind?: unknown } = {};
      try {
        doc = JSON.parse(text);
      } catch {
        // An answer that is not tresor's (a proxy's): judged by its status.
      }
      const kind = typeof doc.kind === "string" ? doc.kind : kindOfStatus(resp.status);
      const reason = typeof doc.error === "string" ? doc.error : `HTTP ${resp.status}`;
      const after = retryAfterSeconds(resp.headers.get("retry-after"));
      const wait = after === undefined ? 100 * 2 ** attempt : after * 1000;
      // A 429 was refused before anything was done; a 503 to a change may have come as the
      // database went away around its commit, so only reads are sent again after one.
      const retryable = resp.status === 429 || (resp.status === 503 && idempotent);
      if (retryable && attempt < retries && wait <= maxRetryWaitMs) {
        await sleep(wait);
        continue;
      }
      throw errorOf(what, resp.status, kind, reason, after);
    }
  }

  const entryBase = (vault: string, o?: CallOptions) =>
    `/api/v1/envs/${seg(o?.environment ?? environment)}/vaults/${seg(vault)}`;

  async function readValue(vault: string, name: string, o?: CallOptions) {
    try {
      return await call<{ value?: string; value_base64?: string }>("GET", `${entryBase(vault, o)}/values/${seg(name)}`);
    } catch (e) {
      if (e instanceof NotFound) return undefined;
      throw e;
    }
  }

  const secrets: Secrets<N> = {
    async get(vault, name, o) {
      const doc = await readValue(vault, name, o);
      if (doc === undefined) return undefined;
      if (doc.value !== undefined) return doc.value;
      throw new NotText(`${vault}/${name} is not UTF-8 text; read it with secrets.getBytes`, "invalid", 200);
    },

    async getBytes(vault, name, o) {
      const doc = await readValue(vault, name, o);
      if (doc === undefined) return undefined;
      if (doc.value !== undefined) return new TextEncoder().encode(doc.value);
      return new Uint8Array(Buffer.from(doc.value_base64 ?? "", "base64"));
    },

    async getAll(vault, names, o) {
      if (names.length === 0) return [];
      const doc = await call<{
        values: Record<string, string>;
        values_base64?: Record<string, string>;
        missing: string[];
        denied: string[];
      }>("POST", "/api/v1/resolve", { environment: o?.environment ?? environment, vault, keys: names }, true);
      if (doc.denied.length > 0) {
        throw new PermissionDenied(
          `POST /api/v1/resolve: this token may not read ${doc.denied.join(", ")} in vault ${vault}`,
          "denied",
          200,
        );
      }
      const notText = names.filter((n) => doc.values_base64?.[n] !== undefined);
      if (notText.length > 0) {
        throw new NotText(`${notText.join(", ")} in vault ${vault}: not UTF-8 text; read with secrets.getBytes`, "invalid", 200);
      }
      return names.map((n) => (Object.prototype.hasOwnProperty.call(doc.values, n) ? doc.values[n] : undefined));
    },

    async put(vault, name, value, o) {
      const body: Record<string, unknown> = { value, kind: o?.kind ?? "secret" };
      if (o?.expectedVersion !== undefined) body.expected_version = o.expectedVersion;
      if (o?.description !== undefined) body.description = o.description;
      return entryInfo(await call<EntryDoc>("PUT", `${entryBase(vault, o)}/entries/${seg(name)}`, body));
    },

    async ls(vault, o) {
      const out: EntryInfo[] = [];
      let after: string | undefined;
      do {
        const q = new URLSearchParams({ limit: "1000" });
        if (o?.prefix !== undefined) q.set("prefix", o.prefix);
        if (after !== undefined) q.set("after", after);
        const page = await call<{ entries: EntryDoc[]; next_after?: string }>("GET", `${entryBase(vault, o)}/entries?${q}`);
        out.push(...page.entries.map(entryInfo));
        after = page.next_after;
      } while (after !== undefined);
      return out;
    },

    async rm(vault, name, o) {
      const purge = o?.purge ? "?purge=true" : "";
      await call<void>("DELETE", `${entryBase(vault, o)}/entries/${seg(name)}${purge}`);
    },
  };

  const webhooks: Webhooks<N> = {
    async send(request) {
      return call<WebhookResponse>("POST", "/api/v1/webhooks/send", {
        method: request.method,
        url: request.url,
        headers: request.headers ?? {},
        body: request.body,
        environment: request.environment ?? environment,
      });
    },
  };

  return { secrets, webhooks, addr, environment };
}
