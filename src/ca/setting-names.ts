/**
 * How whoever embeds the CA names the settings its refusals point to: the
 * command line says "--svid-max-ttl, or MESHCA_SVID_MAX_TTL", another embedding
 * its own words. A refused caller learns which setting to change (or whom to
 * ask) while the core knows nothing of flags or variables.
 */
export interface SettingNames {
  /** The longest SVID lifetime a request or entry may ask for. */
  readonly svidMaxTtl: string;
  /** The trust domain the CA issues for, which a start must name again. */
  readonly trustDomain: string;
}
