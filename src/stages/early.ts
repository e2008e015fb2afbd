/**
 * What a run does while its tests run, because it does not depend on their result: the image goes to the registry by
 * digest, untagged, and the deploy's hosts pull that digest, untagged too. Nothing moves a tag, starts a container or
 * takes a lock before the tests pass: the push stage then puts the manifest under the tags, and the deploy finds the
 * release on its hosts. A failed test stops both; what was uploaded stays untagged (docs/deploy.md says how the
 * registry collects it).
 */
import type Docker from 'dockerode';
import type { ListrTask } from 'listr2';
import { RegistryClient } from '../adapters/registry.js';
import { type Uploaded, uploadByDigest } from '../adapters/upload.js';
import { parseImageRef } from '../core/image-ref.js';
import type { RegistryAccess } from '../core/registry.js';
import { type EngineRegistryConfig, registryScheme } from '../core/registry-api.js';
import { Relay } from '../core/relay.js';
import type { DeployTarget, EarlyPull } from '../deploy/target.js';

export interface EarlyReleaseOptions {
  docker: Docker;
  imageId: string;
  /** The pipeline's image, without a tag. */
  image: string;
  registry: RegistryAccess;
  /** The targets that will deploy this build: their hosts pull it while the tests run. */
  targets: readonly DeployTarget[];
  mask: (text: string) => string;
  /** The run's stop (SIGINT, SIGTERM): the upload stops with it. */
  signal: AbortSignal;
}

type Ending = 'passed' | 'failed';

/** The upload by digest and the hosts' early pulls of one run. */
export class EarlyRelease {
  private readonly controller = new AbortController();
  private readonly uploadRelay = new Relay();
  private readonly hostRelays = new Map<string, Relay>();
  private readonly pulls: Promise<ReadonlyMap<string, EarlyPull>>;
  /** The registry's API for the image's repository, reached as the runner's engine reaches it. */
  readonly client: Promise<RegistryClient>;
  /** The upload; it rejects with why it could not be done (the push stage then pushes by tag). */
  readonly upload: Promise<Uploaded>;

  constructor(options: EarlyReleaseOptions) {
    const { docker, imageId, image, registry, targets, mask, signal } = options;
    const { path } = parseImageRef(image);
    signal.addEventListener('abort', () => this.abort(), { once: true });
    this.client = docker
      .info()
      .then(
        (info: { RegistryConfig?: EngineRegistryConfig }) =>
          new RegistryClient(`${registryScheme(info.RegistryConfig, registry.server)}://${registry.server}`, path, registry.auth),
      );
    this.upload = this.client
      .then((client) => {
        this.uploadRelay.write(`uploading ${image} by digest, untagged until the tests pass`);
        return uploadByDigest(docker, imageId, client, (line) => this.uploadRelay.write(mask(line)), this.controller.signal);
      })
      .then((uploaded) => {
        this.uploadRelay.write(`uploaded ${uploaded.digest}, untagged`);
        return uploaded;
      })
      .finally(() => this.uploadRelay.end());
    // A target that cannot pull early (a swarm's nodes pull as its services update) pulls in the deploy.
    const pulling = targets.filter((target) => target.prefetch);
    for (const target of pulling) for (const member of target.members) this.hostRelays.set(hostKey(target, member.id), new Relay());
    this.pulls = this.upload.then(({ digest }) => {
      const all = new Map<string, EarlyPull>();
      for (const target of pulling) {
        for (const [id, pull] of target.prefetch!(`${image}@${digest}`)) {
          pull.follow((line) => this.hostRelays.get(hostKey(target, id))?.write(mask(`${id}: ${line}`)));
          all.set(hostKey(target, id), pull);
        }
      }
      return all;
    });
    for (const promise of [this.client, this.upload, this.pulls]) promise.catch(() => undefined);
  }

  /** Follows the upload's lines; resolves with what was uploaded, or undefined (and a line saying why) when it failed. */
  async uploaded(log: (line: string) => void): Promise<Uploaded | undefined> {
    this.uploadRelay.follow(log);
    return this.upload.catch((error: Error) => {
      log(`uploading while the tests ran failed (${error.message}): pushing now`);
      return undefined;
    });
  }

  /**
   * Tasks that show the upload and each host's pull while the tests run; each ends with its work or with the tests
   * (the push stage and the deploy's pull follow what is still running). A failed test stops the upload.
   */
  displayTasks(tests: Promise<unknown>): ListrTask[] {
    const testsEnd = tests.then(
      (): Ending => 'passed',
      (): Ending => {
        this.abort();
        return 'failed';
      },
    );
    const upload: ListrTask = {
      title: 'push: uploading by digest',
      task: async (_ctx, task) => {
        this.uploadRelay.follow((line) => {
          task.output = line;
        });
        const end = await Promise.race([
          this.upload.then(
            ({ digest }) => `uploaded ${digest.slice(0, 19)}…, untagged`,
            () => 'upload failed: the push stage pushes by tag',
          ),
          testsEnd,
        ]);
        task.title = `push: ${end === 'passed' ? 'the upload goes on in the push stage' : end === 'failed' ? 'upload stopped: the tests failed' : end}`;
      },
    };
    return [
      upload,
      ...[...this.hostRelays].map(
        ([key, relay]): ListrTask => ({
          title: key,
          task: async (_ctx, task) => {
            relay.follow((line) => {
              task.output = line;
            });
            const pulled = this.pulls.then((pulls) => pulls.get(key)?.done.then(() => 'pulled, untagged') ?? 'nothing to pull');
            const end = await Promise.race([pulled.catch(() => 'pull failed: the deploy pulls again'), testsEnd]);
            task.title = `${key}: ${end === 'passed' ? 'the pull goes on in the deploy' : end === 'failed' ? 'stopped: the tests failed' : end}`;
          },
        }),
      ),
    ];
  }

  /** Stops the upload (a failed test, a signal); the hosts' pulls end with their connections. */
  abort(): void {
    this.controller.abort();
  }
}

function hostKey(target: DeployTarget, id: string): string {
  return `${target.environment}: ${id}`;
}
