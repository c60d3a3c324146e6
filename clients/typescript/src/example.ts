/**
 * How the SPA (or any TypeScript caller) uses the generated client: a paged list that
 * follows `next_cursor`, and problem+json errors handled with their types.
 *
 * `schema.d.ts` is generated from the app's `/openapi.json` (`make clients`); nothing here
 * is written by hand about the API's shapes, so a changed route breaks this file's build.
 */
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

export type Member = components["schemas"]["MemberOut"];
export type MemberCreate = components["schemas"]["MemberCreate"];
export type Problem = components["schemas"]["Problem"];

/** A client bound to one base URL and credential (a tenant API key or a console user's JWT). */
export function enclave(baseUrl: string, token: string) {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}

export type Enclave = ReturnType<typeof enclave>;

/** An API answer that was not 2xx, carrying the problem+json body (RFC 9457). */
export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(describe(problem));
    this.name = "ApiError";
  }
}

/** One line for a person: title, detail, and the input at fault when there is one. */
export function describe(problem: Problem): string {
  const detail = problem.detail ? `: ${problem.detail}` : "";
  const field = problem.field ? ` (field: ${problem.field})` : "";
  return `${problem.title} [${problem.status} ${problem.code}]${detail}${field}`;
}

/** Every member, newest first, page by page: the last page has no `next_cursor`. */
export async function* allMembers(api: Enclave, pageSize = 100): AsyncGenerator<Member> {
  let cursor: string | undefined;
  do {
    const { data, error } = await api.GET("/v1/members", {
      params: { query: { limit: pageSize, ...(cursor ? { cursor } : {}) } },
    });
    if (error) throw new ApiError(error);
    yield* data.data;
    cursor = data.next_cursor ?? undefined;
  } while (cursor);
}

/** Creates a member, or says why not: a 422 names the field to fix, a 409 the clash. */
export async function createMember(
  api: Enclave,
  body: MemberCreate,
): Promise<{ member: Member } | { problem: Problem; fixField?: string }> {
  const { data, error } = await api.POST("/v1/members", { body });
  if (error) {
    if (error.status === 422 && error.field) return { problem: error, fixField: error.field };
    return { problem: error };
  }
  return { member: data };
}

/** A short run against the dev stack: `.local/dev.json` has `base_url` and `demo_api_key`. */
export async function demo(baseUrl: string, apiKey: string): Promise<void> {
  const api = enclave(baseUrl, apiKey);
  const created = await createMember(api, { phone: "138 0013 8000", name: "Lin" }); // the rest is optional
  if ("problem" in created) console.error(describe(created.problem));
  const rejected = await createMember(api, { phone: "x" });
  if ("problem" in rejected) console.error(`fix ${rejected.fixField ?? "the request"}: ${describe(rejected.problem)}`);
  let count = 0;
  for await (const member of allMembers(api, 50)) {
    count += 1;
    if (count <= 3) console.log(member.id, member.name ?? "(no name)");
  }
  console.log(`${count} members`);
}
