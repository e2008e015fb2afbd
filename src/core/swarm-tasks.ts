/** A swarm service's tasks as `pipeline logs` and `pipeline exec` name and choose them (pure). */
import type { TaskView } from './swarm-rollout.js';
import type { SwarmNode } from './swarm-spec.js';

/** `swarm-node-1 web.2`; a global service's task (no slot) is `swarm-node-1 web`. */
export function taskLabel(service: string, task: Pick<TaskView, 'slot' | 'nodeId'>, names: ReadonlyMap<string, string>): string {
  const node = task.nodeId ? (names.get(task.nodeId) ?? task.nodeId.slice(0, 12)) : 'unassigned';
  return `${node} ${task.slot !== undefined ? `${service}.${task.slot}` : service}`;
}

/**
 * The tasks a command runs in: those running, with a container, on every node (or on the node `host` names: its
 * hostname, its address or its name as the pipeline prints it); a string saying why there is none otherwise.
 */
export function chooseTasks(
  service: string,
  tasks: readonly TaskView[],
  nodes: readonly SwarmNode[],
  names: ReadonlyMap<string, string>,
  host?: string,
): TaskView[] | string {
  const running = tasks
    .filter((task) => task.desired === 'running' && task.state === 'running' && task.containerId && task.nodeId)
    .sort((a, b) => (a.slot ?? 0) - (b.slot ?? 0) || names.get(a.nodeId!)!.localeCompare(names.get(b.nodeId!)!));
  if (running.length === 0) return `${service} has no running task`;
  if (host === undefined) return running;
  const node = findNode(nodes, names, host);
  const chosen = node ? running.filter((task) => task.nodeId === node.id) : [];
  if (chosen.length > 0) return chosen;
  const where = [...new Set(running.map((task) => names.get(task.nodeId!) ?? task.nodeId!))].join(', ');
  return `${node ? `${service} has no running task on ${host}` : `${host} is no node of the swarm`}; its tasks run on ${where}`;
}

/** The node `host` names: its hostname, its address, its name as the pipeline prints it, or its id. */
export function findNode(nodes: readonly SwarmNode[], names: ReadonlyMap<string, string>, host: string): SwarmNode | undefined {
  return nodes.find((n) => n.hostname === host || n.address === host || names.get(n.id) === host || n.id === host);
}
