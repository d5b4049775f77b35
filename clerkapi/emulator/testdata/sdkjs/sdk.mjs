// sdk.mjs runs calls of @clerk/backend's users API against the server at CLERK_API_URL with
// CLERK_SECRET_KEY, and prints one JSON line per call. The calls come on standard input as a
// JSON array of {"call": "getUserList", "args": [...]}; each line out is {"result": ...} or
// {"error": {"status", "codes", "clerkTraceId", "retryAfter"}}. Users are summarised as the
// fields the Go test checks, read through the SDK's own User objects.
import { createClerkClient } from '@clerk/backend';

const clerk = createClerkClient({
  secretKey: process.env.CLERK_SECRET_KEY,
  apiUrl: process.env.CLERK_API_URL,
});

function summary(u) {
  return {
    id: u.id,
    externalId: u.externalId,
    emails: u.emailAddresses.map((e) => e.emailAddress),
    primaryEmail: u.primaryEmailAddress?.emailAddress ?? null,
    verification: u.emailAddresses.map((e) => e.verification?.status ?? null),
    publicMetadata: u.publicMetadata,
    privateMetadata: u.privateMetadata,
    unsafeMetadata: u.unsafeMetadata,
    createdAt: u.createdAt,
  };
}

function shape(v) {
  if (v && Array.isArray(v.data)) {
    return { totalCount: v.totalCount, data: v.data.map(summary) };
  }
  if (v && typeof v === 'object' && 'emailAddresses' in v) {
    return summary(v);
  }
  return v;
}

const chunks = [];
for await (const c of process.stdin) chunks.push(c);
const calls = JSON.parse(Buffer.concat(chunks).toString('utf8'));

for (const { call, args } of calls) {
  let out;
  try {
    out = { result: shape(await clerk.users[call](...args)) };
  } catch (err) {
    out = {
      error: {
        status: err.status ?? null,
        codes: (err.errors ?? []).map((e) => e.code),
        clerkTraceId: err.clerkTraceId ?? null,
        retryAfter: err.retryAfter ?? null,
        message: err.status ? undefined : String(err),
      },
    };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
