/**
 * `cla-worker service`: a systemd unit that runs `cla-worker run` in the foreground. systemd then does
 * what `start`/`stop` do by hand (background, logs to the journal, SIGTERM then SIGKILL) and restarts the
 * worker after a crash.
 *
 * The token stays in the config file: the unit names the file, never the token, because unit files are
 * world-readable and `systemctl show` prints `ExecStart` to any user.
 */

/** Input of {@link renderSystemdUnit}. */
export interface SystemdUnitInput {
  /** The worker id. */
  id: string;
  /** The user the worker runs as. */
  user: string;
  /** Absolute path of node. */
  node: string;
  /** Absolute path of the `cla-worker` script; none when `node` is a single-file cla-worker. */
  script?: string;
  /** Absolute path of the config file holding the registration (`id` and `token`). */
  config: string;
  /** The working directory; also the default `cwd` of jobs. */
  workingDirectory: string;
  /**
   * Seconds systemd waits after SIGTERM before SIGKILL; must exceed the agent's grace period for running
   * jobs (10 s). @default 30
   */
  stopTimeoutSeconds?: number;
}

/** The unit file name systemd expects for `id`. */
export function systemdUnitName(id: string): string {
  return `cla-worker-${id.replace(/[^A-Za-z0-9:_.\\-]/g, '_')}.service`;
}

/**
 * Quotes one `ExecStart` word: systemd splits on whitespace, expands `%` specifiers and `$` variables,
 * and reads C escapes inside double quotes.
 */
export function systemdQuote(word: string): string {
  const escaped = word.replace(/%/g, '%%').replace(/\$/g, '$$$$');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A setting value without specifiers (`%`) or line breaks. */
function systemdValue(value: string): string {
  return value.replace(/%/g, '%%').replace(/[\r\n]/g, ' ');
}

/** The unit file's text. */
export function renderSystemdUnit(input: SystemdUnitInput): string {
  const exec = [input.node, ...(input.script === undefined ? [] : [input.script]), 'run', '--id', input.id, '--config', input.config].map(systemdQuote).join(' ');
  const name = systemdUnitName(input.id);
  return [
    `# ${name}: cla-worker ${input.id} as a systemd service.`,
    `# Install:  sudo tee /etc/systemd/system/${name} < this-file`,
    `#           sudo systemctl daemon-reload && sudo systemctl enable --now ${name}`,
    `# Logs:     journalctl -u ${name} -f`,
    `# The token is read from ${input.config}: keep that file mode 0600 and readable by ${input.user}.`,
    '',
    '[Unit]',
    `Description=cla-worker ${systemdValue(input.id)} (pull agent for cla-hub)`,
    'Wants=network-online.target',
    'After=network-online.target',
    '# A worker that keeps failing (token revoked, hub refusing it) is given up after 5 starts in 10 min.',
    'StartLimitIntervalSec=600',
    'StartLimitBurst=5',
    '',
    '[Service]',
    'Type=simple',
    `User=${systemdValue(input.user)}`,
    `WorkingDirectory=${systemdQuote(input.workingDirectory)}`,
    `ExecStart=${exec}`,
    // Read by the people who install it, so the reasons go into the file.
    '# `cla-worker run` exits 0 when stopped by a signal and when the hub shuts it down (which must not',
    '# be undone by a restart), so on-failure leaves both alone; crashes and refusals (exit 1) restart.',
    '# Should a hub-ordered shutdown get an exit status of its own, add: RestartPreventExitStatus=<status>',
    'Restart=on-failure',
    'RestartSec=5',
    '# SIGTERM to the worker alone is its graceful stop: running jobs get their grace period (10 s), then',
    '# it says bye to the hub. `mixed` keeps systemd from signalling the jobs too; SIGKILL still reaches all.',
    'KillSignal=SIGTERM',
    'KillMode=mixed',
    `TimeoutStopSec=${input.stopTimeoutSeconds ?? 30}`,
    '# Hardening that still lets the worker do its job (run commands, write where its user may).',
    '# NoNewPrivileges also stops jobs from gaining privileges through sudo or setuid programs: remove it,',
    '# ProtectSystem or PrivateTmp if your jobs need that, deploy into /usr, /boot or /etc, or share /tmp.',
    'NoNewPrivileges=yes',
    'PrivateTmp=yes',
    'ProtectSystem=full',
    'ProtectKernelTunables=yes',
    'ProtectKernelModules=yes',
    'ProtectControlGroups=yes',
    'RestrictSUIDSGID=yes',
    'LockPersonality=yes',
    'UMask=0027',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
