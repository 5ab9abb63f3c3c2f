// A real tresor server for the tests: `tresor init` in a temporary directory, then `tresor serve`
// on port 0 of the loopback, its log kept in a file that `log()` reads back (the tests scan it for
// the values they stored). The binary is TRESOR_BIN (crates/tresor-cli/tests/sdk_typescript.rs sets
// it), else the workspace's target/debug/tresor.

import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's directory (this file runs from dist-test/test/). */
export const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** The tresor binary under test. */
export function tresorBin(): string {
  const bin = process.env.TRESOR_BIN || resolve(packageDir, "../../target/debug/tresor");
  if (!existsSync(bin)) {
    throw new Error(`no tresor binary at ${bin}: build it (cargo build -p tresor) or set TRESOR_BIN`);
  }
  return bin;
}

/** The environment for a tresor child: this one without any TRESOR_* variable, plus `extra`. */
function childEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith("TRESOR_")) env[k] = v;
  }
  return { ...env, ...extra };
}

export class Server {
  private constructor(
    readonly addr: string,
    readonly adminToken: string,
    private readonly dir: string,
    private readonly logFile: string,
    private readonly child: ChildProcess,
  ) {}

  /** Starts a server with these extra environment variables (TRESOR_WEBHOOK_ALLOW_HOSTS, ...). */
  static async start(env: Record<string, string> = {}): Promise<Server> {
    const bin = tresorBin();
    const dir = mkdtempSync(join(tmpdir(), "tresor-sdk-ts-"));
    const data = join(dir, "data");
    const init = execFileSync(bin, ["init", "--json", "--data-dir", data], { env: childEnv({}) });
    const adminToken = JSON.parse(init.toString()).admin_token as string;
    const logFile = join(dir, "server.log");
    const log = openSync(logFile, "w");
    const child = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", data], {
      env: childEnv({ TRESOR_LOG: "debug", NO_COLOR: "1", TRESOR_RATE_MANAGEMENT: "0", ...env }),
      stdio: ["ignore", log, log],
    });
    const says = "tresor listening on ";
    for (let waited = 0; waited < 20_000; waited += 20) {
      const text = readFileSync(logFile, "utf8");
      const at = text.indexOf(says);
      if (at >= 0) {
        const addr = text.slice(at + says.length).split(/\s/)[0]!;
        return new Server(addr, adminToken, dir, logFile, child);
      }
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    child.kill();
    throw new Error(`the server did not start; its log:\n${readFileSync(logFile, "utf8")}`);
  }

  /** Everything the server logged so far. */
  log(): string {
    return readFileSync(this.logFile, "utf8");
  }

  /** An administrative call with the admin token; throws on a status other than 2xx. */
  async admin(method: string, path: string, body?: unknown): Promise<any> {
    const resp = await fetch(this.addr + path, {
      method,
      headers: { Authorization: `Bearer ${this.adminToken}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await resp.text();
    if (!resp.ok) throw new Error(`${method} ${path}: ${resp.status} ${text}`);
    return text === "" ? undefined : JSON.parse(text);
  }

  /** Creates `principal` with `grants` (scope, access) and answers a token of its own. */
  async principal(principal: string, grants: [string, string][]): Promise<string> {
    await this.admin("POST", "/api/v1/principals", { principal });
    for (const [scope, access] of grants) {
      await this.admin("POST", "/api/v1/grants", { principal, scope, access });
    }
    return (await this.admin("POST", "/api/v1/tokens", { principal, name: "sdk-test" })).token as string;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill();
      await exited;
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
