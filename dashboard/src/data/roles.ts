// What a role may do, so screens can disable what the server would refuse.
// The server's table is `access()` in crates/roost/src/api/rest/access.rs; this
// only mirrors its order (read < write < admin) and the server still decides.
import type { Identity, Role } from '../api/types';

const RANK: Record<Role, number> = { read: 0, write: 1, admin: 2 };

/** Whether `role` may do what `needed` may. */
export function allows(role: Role, needed: Role): boolean {
  return RANK[role] >= RANK[needed];
}

/** Why `identity` may not do what needs `needed`, or null when it may. */
export function refusal(identity: Identity, needed: Role): string | null {
  if (allows(identity.role, needed)) return null;
  return `${identity.user} has the ${identity.role} role; this needs ${needed}`;
}
