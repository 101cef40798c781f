import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { getHFHubCachePath } from '@huggingface/hub';

/** Where and how to reach the hub; every field defaults from the environment as Python's huggingface_hub does. */
export interface HubSettings {
  /** `HF_ENDPOINT`, default https://huggingface.co */
  endpoint: string;
  /** `HF_TOKEN`, else the token file `huggingface-cli login` writes (`HF_TOKEN_PATH`, `$HF_HOME/token`). */
  token?: string;
  /** `HF_HUB_OFFLINE=1`: use the cache only, never the network. */
  offline: boolean;
  /** `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `~/.cache/huggingface/hub`. */
  cacheDir: string;
}

const TRUE = new Set(['1', 'ON', 'YES', 'TRUE']); // huggingface_hub's ENV_VARS_TRUE_VALUES

function hfHome(env: NodeJS.ProcessEnv): string {
  return env.HF_HOME ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
}

function storedToken(env: NodeJS.ProcessEnv): string | undefined {
  const file = env.HF_TOKEN_PATH ?? join(hfHome(env), 'token');
  if (!existsSync(file)) return undefined;
  return readFileSync(file, 'utf8').trim() || undefined;
}

/** Settings from `env` (default `process.env`), each overridable by the caller. */
export function hubSettings(overrides: Partial<HubSettings> = {}, env = process.env): HubSettings {
  const token = overrides.token ?? env.HF_TOKEN ?? env.HUGGING_FACE_HUB_TOKEN ?? storedToken(env);
  // The library reads the cache variables from process.env itself; with another env, mirror its rule.
  const cacheDir =
    overrides.cacheDir ??
    (env === process.env
      ? getHFHubCachePath()
      : (env.HF_HUB_CACHE ?? env.HUGGINGFACE_HUB_CACHE ?? join(hfHome(env), 'hub')));
  return {
    endpoint: (overrides.endpoint ?? env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, ''),
    ...(token ? { token } : {}),
    offline: overrides.offline ?? TRUE.has((env.HF_HUB_OFFLINE ?? '').toUpperCase()),
    cacheDir,
  };
}
