import type { FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Role } from '../auth/roles.ts';
import { validationError } from '../errors.ts';
import type { Principal } from './auth.ts';

/**
 * Who may call a route: anyone, a Cloud Monitoring webhook token, a Pub/Sub push OIDC token, or an operator token
 * of at least a role.
 */
export type RouteAuth = 'public' | 'webhook' | 'pubsub' | Role;

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  /** The media type of the body; JSON unless said otherwise (`/metrics` answers Prometheus text). */
  contentType?: string;
}

/**
 * A route's contract, declared once: Fastify serves it and `npm run openapi` documents it from the same zod
 * schemas, so the two cannot drift.
 */
export interface RouteSpec {
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  /** The same handler is also served at these paths (the seed's routes are mirrored under /v1). */
  aliases: readonly string[];
  operationId: string;
  summary: string;
  description?: string;
  tags: readonly string[];
  auth: RouteAuth;
  params?: z.ZodType;
  query?: z.ZodType;
  body?: z.ZodType;
  responses: Readonly<Record<number, ResponseSpec>>;
}

type Parsed<T> = T extends z.ZodType ? z.output<T> : undefined;

export interface RouteInput<S extends RouteSpec> {
  params: Parsed<S['params']>;
  query: Parsed<S['query']>;
  body: Parsed<S['body']>;
  principal: Principal | null;
  request: FastifyRequest;
  reply: FastifyReply;
}

/** A spec with its handler, ready for the app to register. */
export interface BoundRoute {
  spec: RouteSpec;
  handle(input: RouteInput<RouteSpec>): Promise<unknown>;
}

export function defineRoute<const S extends RouteSpec>(spec: S): S {
  return spec;
}

export function bindRoute<S extends RouteSpec>(
  spec: S,
  handle: (input: RouteInput<S>) => Promise<unknown>,
): BoundRoute {
  return { spec, handle: handle as BoundRoute['handle'] };
}

/** Validates one part of a request; a mismatch is a 400 whose details name each bad field. */
export function parseInput<T extends z.ZodType>(schema: T, value: unknown, where: string): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw validationError(`Invalid ${where}`, parsed.error.issues, [where]);
}
