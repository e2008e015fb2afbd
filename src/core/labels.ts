/** The prefix of the labels the pipeline puts on what it creates on hosts: whose it is (project, service, environment), what it runs. */
export const LABEL_PREFIX = 'pipeline.';
