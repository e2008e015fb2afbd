import { color, ListrLogger, ListrLogLevels, type LoggerFieldOptions } from 'listr2';

/**
 * The line renderers' logger. listr2 writes a failure's message on the failed task and again on every task
 * above it; here a failed task is only marked (`✖ build [FAILED]`), and the CLI's last line says once what went
 * wrong. Untitled tasks (the checks after deploy phases) write nothing.
 */
export class LineLogger extends ListrLogger {
  override log(level: ListrLogLevels, message: string, options?: LoggerFieldOptions): void {
    if (level === ListrLogLevels.FAILED) {
      if (!message) return;
      super.log(level, message, {
        ...options,
        suffix: { field: ListrLogLevels.FAILED, format: () => (text?: string) => color.red(text ?? '') },
      });
      return;
    }
    super.log(level, message, options);
  }
}
