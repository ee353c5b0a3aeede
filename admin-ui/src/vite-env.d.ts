/// <reference types="vite/client" />

/** The forms' validators, compiled from their schemas at build time (admin-ui/form-validators.ts). */
declare module 'virtual:form-validators/*' {
  const validateFns: import('@rjsf/validator-ajv8').ValidatorFunctions;
  export default validateFns;
}
