// Answers has() questions with Clerk's own authorization code, for
// hooks/entitlements_clerk_has_test.go. argv[2] is the folder whose
// node_modules holds @clerk/shared. stdin is a JSON list of sessions, each
// {userId, orgId, fea, pla, asks: [{feature} | {plan}, ...]}; stdout is the
// list of their answers, one list of booleans per session.
const { createCheckAuthorization } = require(require.resolve("@clerk/shared/authorization", { paths: [process.argv[2]] }));

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const answers = JSON.parse(input).map((s) => {
    const has = createCheckAuthorization({
      userId: s.userId,
      orgId: s.orgId || null,
      orgRole: null,
      orgPermissions: null,
      factorVerificationAge: null,
      features: s.fea,
      plans: s.pla,
    });
    return s.asks.map((ask) => has(ask));
  });
  process.stdout.write(JSON.stringify(answers));
});
