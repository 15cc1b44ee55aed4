"""HR services on the card (人社服务): a catalogue of services as data, each service a case
opened by the holder (with the card or e-card) or at an outlet, documents attached, reviewed
and decided by an HR officer; decisions that lead to money enrol the person in a benefits
programme, social insurance enrolment enrols them in medical insurance. The HR system reads a
person's card account number through an audited route (seed 三.4). See docs/hr-services.md."""
