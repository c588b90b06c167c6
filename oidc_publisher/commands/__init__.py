"""One module per command: read the state, plan, and report the plan or execute it. The command line
(cli/) parses options and calls exactly one of these."""
