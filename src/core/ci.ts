/** What the CI service (if any) says about the build, read from its environment variables. */
export interface CiInfo {
  provider?: 'circleci' | 'github-actions' | 'generic';
  branch?: string;
  tag?: string;
  sha?: string;
  buildUrl?: string;
}

export function detectCi(env: NodeJS.ProcessEnv): CiInfo {
  if (env.CIRCLECI || env.CIRCLE_BRANCH || env.CIRCLE_TAG || env.CIRCLE_SHA1) {
    return {
      provider: 'circleci',
      branch: env.CIRCLE_BRANCH || undefined,
      tag: env.CIRCLE_TAG || undefined,
      sha: env.CIRCLE_SHA1 || undefined,
      buildUrl: env.CIRCLE_BUILD_URL || undefined,
    };
  }
  if (env.GITHUB_ACTIONS || env.GITHUB_REF_NAME) {
    const isTag = env.GITHUB_REF_TYPE === 'tag';
    const buildUrl =
      env.GITHUB_SERVER_URL && env.GITHUB_REPOSITORY && env.GITHUB_RUN_ID
        ? `${env.GITHUB_SERVER_URL}/${env.GITHUB_REPOSITORY}/actions/runs/${env.GITHUB_RUN_ID}`
        : undefined;
    return {
      provider: 'github-actions',
      // On pull requests GITHUB_REF_NAME is "<n>/merge"; the branch is GITHUB_HEAD_REF.
      branch: env.GITHUB_HEAD_REF || (isTag ? undefined : env.GITHUB_REF_NAME) || undefined,
      tag: isTag ? env.GITHUB_REF_NAME : undefined,
      sha: env.GITHUB_SHA || undefined,
      buildUrl,
    };
  }
  return env.CI && env.CI !== 'false' ? { provider: 'generic' } : {};
}
