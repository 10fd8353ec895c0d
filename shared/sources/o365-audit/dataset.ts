/** The data stream Elastic's o365 integration writes the audit feed to: its documents' `event.dataset`. */
export const O365_AUDIT_DATASET = "o365.audit";
