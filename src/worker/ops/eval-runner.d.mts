/** The eval child process: runs on import (see eval-runner.mjs). */
export {};
