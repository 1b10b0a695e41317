// panva's certified `oidc-provider` (npm, pinned in package.json) for the sign-in tests.
// With the authorization-code flow it returns the `profile` and `email` claims only
// from the UserInfo endpoint, never in the id_token (OpenID Connect Core §5.4).
// Started by tests/support/processes.py: start_panva_idp. Development interactions:
// a login form (any login, any password; the login is the subject) and a consent form.
import Provider from "oidc-provider";

const { PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI } = process.env;
const issuer = `http://127.0.0.1:${PORT}`;
const people = {
  alice: { name: "Alice Liddell", email: "alice@example.test" },
};

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      redirect_uris: [REDIRECT_URI],
      grant_types: ["authorization_code"],
      response_types: ["code"],
      token_endpoint_auth_method: "client_secret_basic",
    },
  ],
  claims: { openid: ["sub"], email: ["email", "email_verified"], profile: ["name"] },
  async findAccount(_ctx, id) {
    const person = people[id] || { name: `User ${id}`, email: `${id}@example.test` };
    return {
      accountId: id,
      async claims() {
        return { sub: id, name: person.name, email: person.email, email_verified: true };
      },
    };
  },
  cookies: { keys: ["tests-only-cookie-key"] },
  features: { devInteractions: { enabled: true } },
});
// A provider that lies for one person: UserInfo for "mallory" names "alice" as the subject.
provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === "/me" && ctx.body && ctx.body.sub === "mallory") ctx.body = { ...ctx.body, sub: "alice" };
});
const server = provider.listen(Number(PORT), "127.0.0.1", () => {
  console.log(`ready ${issuer}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, () => server.close(() => process.exit(0)));
