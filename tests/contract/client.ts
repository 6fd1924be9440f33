// A small client typed by the generated API types (`openapi-typescript openapi.json`), so
// `make test` proves the document serves a TypeScript user: it must type-check, and the
// `@ts-expect-error` lines prove the types are strict enough to refuse mistakes.

import type { components, paths } from "../../target/contract/api";

type Json<T> = T extends { content: { "application/json": infer B } } ? B : never;

type SignupBody = Json<paths["/v1/auth/signup"]["post"]["requestBody"]>;
type User = components["schemas"]["User"];
type LoginOk = Json<paths["/v1/auth/login"]["post"]["responses"][200]>;
type NoteDraft = Json<paths["/v1/notes"]["post"]["requestBody"]>;
type Note = components["schemas"]["Note"];
type NotePage = Json<paths["/v1/notes"]["get"]["responses"][200]>;
type NotePatch = Json<paths["/v1/notes/{id}"]["patch"]["requestBody"]>;
type ApiError = components["schemas"]["Error"];
type ListQuery = NonNullable<paths["/v1/notes"]["get"]["parameters"]["query"]>;

async function call<T>(base: string, method: string, path: string, body?: unknown): Promise<T> {
  const resp = await fetch(base + path, {
    method,
    credentials: "include",
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? null : JSON.stringify(body),
  });
  if (!resp.ok) {
    const failure = (await resp.json()) as ApiError;
    throw new Error(`${failure.error.code}: ${failure.error.message} (${failure.error.request_id})`);
  }
  return (resp.status === 204 ? undefined : await resp.json()) as T;
}

export async function tour(base: string): Promise<string> {
  const credentials: SignupBody = { email: "ada@example.com", password: "correct horse battery staple" };
  const user: User = await call<User>(base, "POST", "/v1/auth/signup", credentials);
  const role: "user" | "admin" = user.role;
  const signedIn = await call<LoginOk>(base, "POST", "/v1/auth/login", credentials);
  const sessionId: string = signedIn.session_id;

  const draft: NoteDraft = { title: "Hello", body: "From a typed client", tags: ["demo"] };
  const note = await call<Note>(base, "POST", "/v1/notes", draft);
  const version: number = note.version;

  const query: ListQuery = { limit: 5, tag: "demo" };
  const page = await call<NotePage>(base, "GET", `/v1/notes?limit=${query.limit}&tag=${query.tag}`);
  const first: Note | undefined = page.items[0];
  const next: string | null = page.next_cursor;

  const patch: NotePatch = { body: null, tags: ["edited"] };
  const edited = await call<Note>(base, "PATCH", `/v1/notes/${note.id}`, patch);
  await call<void>(base, "DELETE", `/v1/notes/${edited.id}`);

  // @ts-expect-error: a note draft has no `owner_id` (no mass assignment)
  const forged: NoteDraft = { title: "x", owner_id: user.id };
  // @ts-expect-error: a title cannot be removed with null
  const untitled: NotePatch = { title: null };
  // @ts-expect-error: signup needs a password
  const incomplete: SignupBody = { email: "ada@example.com" };

  return [role, sessionId, version, first?.title, next, forged, untitled, incomplete].join(" ");
}
