import type { DeployTarget, TargetMember } from '../deploy/target.js';

export type MemberOutcome<T> = { member: TargetMember; ok: true; value: T } | { member: TargetMember; ok: false; error: string };

/** A read-only look at every member of a target at once; an unreachable member is an outcome, not a throw. The target is closed after. */
export async function onEveryMember<T>(target: DeployTarget, look: (member: TargetMember) => Promise<T>): Promise<MemberOutcome<T>[]> {
  try {
    return await Promise.all(
      target.members.map(async (member): Promise<MemberOutcome<T>> => {
        try {
          return { member, ok: true, value: await look(member) };
        } catch (error) {
          return { member, ok: false, error: (error as Error).message };
        }
      }),
    );
  } finally {
    await target.close();
  }
}

/** `  deploy@web-1 [web]`, and `: unreachable: …` for a member that could not be looked at. */
export function memberHeading(outcome: MemberOutcome<unknown>, note = ''): string {
  const { member } = outcome;
  return `  ${member.id} [${member.roles.join(', ')}]${outcome.ok ? note : `: unreachable: ${outcome.error}`}`;
}
