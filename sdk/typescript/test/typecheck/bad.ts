// Must NOT compile: every line marked `// refused` holds a name fixture.yaml does not declare
// (test/codegen.test.ts checks that tsc reports an error on each of those lines and on no other).
import { createClient } from "@tresor/sdk";
import type { SecretNames } from "./secrets.js";

const { secrets, webhooks } = createClient<SecretNames>();

await secrets.get("api-keys", "strpe-secret-key"); // refused
await secrets.get("api-keyz", "stripe-secret-key"); // refused
await secrets.getAll("api-keys", ["stripe-secret-key", "db/password"]); // refused
await secrets.put("database", "db/pasword", "x"); // refused
await secrets.ls("no-such-vault"); // refused
await secrets.rm("database", "stripe-secret-key"); // refused
await webhooks.send({
  method: "POST",
  url: "https://api.example.com/orders",
  headers: { Authorization: { vault: "api-keys", key: "db/password" } }, // refused
});
