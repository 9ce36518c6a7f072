/** The `pgz` command. */
console.log("usage: pgz <command> [options]\n\nCommands are added as the engine lands; see README.md.");
