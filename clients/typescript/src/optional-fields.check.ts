/**
 * Compile-time checks (no runtime): optional request fields of the API stay optional in the
 * generated types, and required ones stay required. `tsc --strict --noEmit` fails if the
 * generator or the OpenAPI document turns a field with a default into a required one.
 */
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Expect<T extends true> = T;
/** The keys of T a caller may leave out. */
type OptionalKeys<T> = { [K in keyof T]-?: {} extends Pick<T, K> ? K : never }[keyof T];

// MemberCreate: every field may be left out (the service asks for at least one identity)
export type MemberCreateAllOptional = Expect<Equal<OptionalKeys<Schemas["MemberCreate"]>, keyof Schemas["MemberCreate"]>>;
export const phoneOnly: Schemas["MemberCreate"] = { phone: "+8613800138000" };
export const nothing: Schemas["MemberCreate"] = {};

// ChannelCreate: code and name are required, platform and description optional
export type ChannelCreateOptional = Expect<Equal<OptionalKeys<Schemas["ChannelCreate"]>, "platform" | "description">>;
// @ts-expect-error name is required
export const noName: Schemas["ChannelCreate"] = { code: "mall-qr-01" };

// query parameters with defaults are optional too: a page size need not be given
type MemberListQuery = NonNullable<paths["/v1/members"]["get"]["parameters"]["query"]>;
export type MemberListQueryOptional = Expect<Equal<OptionalKeys<MemberListQuery>, keyof MemberListQuery>>;
