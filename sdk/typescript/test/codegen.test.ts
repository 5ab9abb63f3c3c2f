// `tresor codegen typescript`: the names it generates from test/typecheck/fixture.yaml make
// good.ts compile and every marked line of bad.ts fail, under `tsc --noEmit`.

import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { packageDir, tresorBin } from "./server.js";

const source = join(packageDir, "test", "typecheck");
const work = join(packageDir, "dist-test", "typecheck");
const tsc = join(packageDir, "node_modules", "typescript", "bin", "tsc");

/** `tsc --noEmit` on one file with the package's settings: the exit code and the error lines. */
function typecheck(file: string): { status: number | null; output: string } {
  const args = [tsc, "--noEmit", "--strict", "--target", "ES2022", "--module", "NodeNext", "--moduleResolution", "NodeNext"];
  const r = spawnSync(process.execPath, [...args, "--types", "node", join(work, file)], { cwd: work, encoding: "utf8" });
  return { status: r.status, output: r.stdout + r.stderr };
}

describe("tresor codegen typescript", () => {
  let generated: string;

  before(() => {
    mkdirSync(work, { recursive: true });
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TRESOR_")));
    // No STRIPE_SECRET_KEY and friends: the names need no value.
    generated = execFileSync(tresorBin(), ["codegen", "typescript", "-f", join(source, "fixture.yaml")], { env, encoding: "utf8" });
    writeFileSync(join(work, "secrets.d.ts"), generated);
    for (const f of ["good.ts", "bad.ts"]) copyFileSync(join(source, f), join(work, f));
  });

  test("the declaration maps each vault to the union of its keys", () => {
    assert.match(generated, /export interface SecretNames \{/);
    assert.match(generated, /"api-keys": "api-url" \| "sendgrid-api-key" \| "stripe-secret-key";/);
    assert.match(generated, /"database": "db\/password";/);
  });

  test("a file naming declared vaults and keys compiles", () => {
    const r = typecheck("good.ts");
    assert.equal(r.status, 0, r.output);
  });

  test("a misspelt vault or key does not compile, and the error is on that line", () => {
    const r = typecheck("bad.ts");
    assert.notEqual(r.status, 0, "bad.ts compiled");
    const marked = readFileSync(join(source, "bad.ts"), "utf8")
      .split("\n")
      .flatMap((line, i) => (line.endsWith("// refused") ? [i + 1] : []));
    const reported = [...new Set([...r.output.matchAll(/bad\.ts\((\d+),\d+\): error TS\d+/g)].map((m) => Number(m[1])))];
    assert.equal(marked.length, 7);
    assert.deepEqual(reported.sort((a, b) => a - b), marked, r.output);
  });
});
