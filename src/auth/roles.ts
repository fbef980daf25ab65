/** Operator roles, weakest first: each may do all that the ones before it may. */
export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** An operator token as configured: its name, role and the SHA-256 of its value. */
export interface OperatorToken {
  name: string;
  role: Role;
  sha256: string;
}
