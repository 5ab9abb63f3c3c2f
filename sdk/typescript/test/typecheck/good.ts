// Must compile against the names `tresor codegen typescript -f fixture.yaml` generates
// (test/codegen.test.ts type-checks it with `tsc --noEmit`; it is never run).
import { createClient, type SecretRef } from "@tresor/sdk";
import type { SecretNames } from "./secrets.js";

const { secrets, webhooks } = createClient<SecretNames>({ environment: "prod" });

const stripe: string | undefined = await secrets.get("api-keys", "stripe-secret-key");
const both: (string | undefined)[] = await secrets.getAll("api-keys", ["stripe-secret-key", "sendgrid-api-key"]);
const password = await secrets.get("database", "db/password", { environment: "dev" });
const bytes: Uint8Array | undefined = await secrets.getBytes("database", "db/password");
await secrets.put("api-keys", "api-url", "https://api.example.com", { kind: "variable" });
const names: string[] = (await secrets.ls("api-keys")).map((e) => e.key);
await secrets.rm("database", "db/password", { purge: true });

const token: SecretRef<SecretNames> = { vault: "api-keys", key: "stripe-secret-key" };
await webhooks.send({
  method: "POST",
  url: "https://api.example.com/orders",
  headers: { Authorization: token, "X-API-Key": { vault: "api-keys", key: "sendgrid-api-key" } },
  body: { orderId: "ord_42", password: { vault: "database", key: "db/password" } },
});

// Without the names, any string goes.
const untyped = createClient();
await untyped.secrets.get("any-vault", "any-key");
await untyped.webhooks.send({ method: "GET", url: "https://x", headers: { A: { vault: "v", key: "k" } } });

export { stripe, both, password, bytes, names };
