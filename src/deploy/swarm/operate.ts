/**
 * A swarm service looked at and worked in after a deploy: `pipeline logs` reads the Engine's service log on the
 * manager (every task's lines, each named by its node and task); `pipeline exec` runs in each running task's container,
 * on its node, reached over SSH as the manager is.
 */
import type Docker from 'dockerode';
import { execIn } from '../../adapters/container-run.js';
import type { HostConnection } from '../../adapters/ports.js';
import { type LogLine, splitDetails } from '../../core/logs.js';
import { nodeNames, type SwarmServicePlan, specImage } from '../../core/swarm-spec.js';
import { chooseTasks, findNode, taskLabel } from '../../core/swarm-tasks.js';
import { HostError, StageError } from '../../errors.js';
import { readEngineLogs } from '../engine-logs.js';
import type { ExecRequest, LogsRequest } from '../target.js';
import { type EngineService, readNodes, readTasks } from './engine.js';
import { execOnManager, type ManagerEngine } from './one-off.js';

export interface SwarmOperate extends ManagerEngine {
  /** The manager's own node: its tasks are reached through the manager's connection. */
  managerNode: string;
  connectNode(address: string): Promise<HostConnection>;
}

async function findService(ctx: SwarmOperate, svc: SwarmServicePlan): Promise<EngineService> {
  try {
    return (await ctx.docker.getService(svc.container).inspect()) as EngineService;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) throw new StageError(`${svc.service} is not deployed here`);
    throw new HostError(ctx.id, `inspecting service ${svc.container}: ${(error as Error).message}`, { cause: error });
  }
}

async function tasksOf(ctx: SwarmOperate, service: EngineService) {
  const [nodes, tasks] = await Promise.all([readNodes(ctx.docker, ctx.id), readTasks(ctx.docker, ctx.id, service)]);
  return { nodes, tasks, names: nodeNames(nodes) };
}

/** The service's log from all its tasks, each line named `node service.slot`; `host` keeps the lines of one node's tasks. */
export async function swarmServiceLogs(
  ctx: SwarmOperate,
  svc: SwarmServicePlan,
  request: LogsRequest,
  onLine: (line: LogLine) => void,
): Promise<void> {
  const service = await findService(ctx, svc);
  const { nodes, tasks, names } = await tasksOf(ctx, service);
  const node = request.host === undefined ? undefined : findNode(nodes, names, request.host);
  if (request.host !== undefined && !node) throw new StageError(`${request.host} is no node of the swarm`);
  const labels = new Map(tasks.map((task) => [task.id, taskLabel(svc.service, task, names)]));
  const handle = (line: LogLine) => {
    const { details, text } = splitDetails(line.text);
    const nodeId = details['com.docker.swarm.node.id'];
    if (node && nodeId !== node.id) return;
    const taskId = details['com.docker.swarm.task.id'] ?? '';
    const origin = labels.get(taskId) ?? taskLabel(svc.service, nodeId ? { nodeId } : {}, names);
    onLine({ ...line, text, origin });
  };
  const target = ctx.docker.getService(service.ID);
  await readEngineLogs(ctx.docker, (options) => target.logs({ ...options, details: true }), request, handle);
}

/**
 * The command in every running task's container (or those on the node `host` names), each on its node; output lines
 * are named by task. Resolves with 0 when it exited 0 everywhere; otherwise throws naming each task where it did not.
 */
export async function swarmServiceExec(ctx: SwarmOperate, svc: SwarmServicePlan, request: ExecRequest): Promise<number> {
  const service = await findService(ctx, svc);
  if (request.oneOff) {
    const image = specImage(service.Spec);
    if (!image) throw new StageError(`${svc.service} has no image in its spec`);
    const io = { onLines: request.onLines, signal: request.signal, ...(request.terminal ? { terminal: request.terminal } : {}) };
    return execOnManager(ctx, svc, image, { command: request.command, secretEnv: request.secretEnv(svc.secrets) }, io);
  }
  const { nodes, tasks, names } = await tasksOf(ctx, service);
  const chosen = chooseTasks(svc.service, tasks, nodes, names, request.host);
  if (typeof chosen === 'string') throw new StageError(chosen);
  const outcomes = await Promise.allSettled(
    chosen.map(async (task) => {
      const label = taskLabel(svc.service, task, names);
      const node = nodes.find((n) => n.id === task.nodeId)!;
      const own = node.id === ctx.managerNode;
      const connection = own
        ? undefined
        : await ctx.connectNode(node.address).catch((error: Error) => {
            throw new StageError(`cannot reach node ${names.get(node.id)}: ${error.message}`, { cause: error });
          });
      const docker: Docker = connection?.docker ?? ctx.docker;
      try {
        const io = {
          onLines: (lines: string, stream: 'stdout' | 'stderr') => request.onLines(lines, stream, label),
          signal: request.signal,
          ...(request.terminal && chosen.length === 1 ? { terminal: request.terminal } : {}),
        };
        return await execIn(docker, docker.getContainer(task.containerId!), request.command, io);
      } finally {
        await connection?.close();
      }
    }),
  );
  const failures = outcomes.flatMap((outcome, i) => {
    const label = taskLabel(svc.service, chosen[i]!, names);
    if (outcome.status === 'rejected') return [`${label}: ${(outcome.reason as Error).message}`];
    return outcome.value === 0 ? [] : [`${label}: exited with code ${outcome.value}`];
  });
  if (failures.length > 0) throw new StageError(`failed in ${failures.length} of ${chosen.length} task(s): ${failures.join('; ')}`);
  return 0;
}
