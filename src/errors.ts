/**
 * Typed application errors. Every error has a stable `code` (listed in README.md, "Error codes");
 * code that handles errors matches on `code`, never on the message.
 */
export class AppError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A configuration value is missing or wrong; `path` is its JSON path (`sip.listen[0].port`). */
export class ConfigError extends AppError {
  readonly path: string;
  readonly problems: readonly string[];
  constructor(path: string, message: string, problems: readonly string[] = []) {
    super('CONFIG_ERR_INVALID', `${path}: ${message}`);
    this.path = path;
    this.problems = problems.length ? problems : [`${path}: ${message}`];
  }
}
