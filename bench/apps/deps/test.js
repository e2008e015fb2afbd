// Its test: the dependency layer is there.
const { statSync } = require('node:fs');
if (statSync('/app/node_modules/dep/blob').size !== 2000000) process.exit(1);
