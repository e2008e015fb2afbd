import { parseImageRef } from './image-ref.js';

/** Credentials as the Engine API takes them (X-Registry-Auth). */
export interface RegistryAuth {
  username: string;
  password: string;
  serveraddress: string;
}

/** The configured registry, resolved once from the config: which images it holds and the credentials for them. */
export interface RegistryAccess {
  server: string;
  /** Undefined when no password is configured: pulls go without credentials, a push is refused. */
  auth?: RegistryAuth;
}

export function registryAccess(registry: { server: string; username: string; password?: string } | undefined): RegistryAccess | undefined {
  if (!registry) return undefined;
  const auth = registry.password ? { username: registry.username, password: registry.password, serveraddress: registry.server } : undefined;
  return { server: registry.server, ...(auth ? { auth } : {}) };
}

/** The credentials to send for an image: only an image on the configured registry gets them. */
export function credentialsFor(access: RegistryAccess | undefined, ref: string): RegistryAuth | undefined {
  return access && parseImageRef(ref).registry === access.server ? access.auth : undefined;
}
