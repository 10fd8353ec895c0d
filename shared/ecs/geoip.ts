import maxmind, { type AsnResponse, type CityResponse, type Reader } from "maxmind";
import { memoize } from "./doc.js";

/**
 * source.geo.* and source.as.* from MaxMind databases, shaped as Elastic's geoip processor shapes
 * them (English names, `region_iso_code` as country-subdivision, location as lat/lon).
 * Readers are opened once per process, and the fields of each address are worked out once and
 * shared (frozen): the same few thousand addresses recur across millions of records.
 */
export interface GeoFields {
  geo: Record<string, unknown> | undefined;
  as: Record<string, unknown> | undefined;
}

export interface GeoLookup {
  /** Location and network of an address, both from one cache lookup. */
  lookup(ip: string): GeoFields;
}

export async function openGeoIp(paths: { city?: string | undefined; asn?: string | undefined }): Promise<GeoLookup | undefined> {
  if (!paths.city && !paths.asn) return undefined;
  const [city, asn] = await Promise.all([
    paths.city ? maxmind.open<CityResponse>(paths.city) : undefined,
    paths.asn ? maxmind.open<AsnResponse>(paths.asn) : undefined,
  ]);
  const fieldsOf = memoize(50_000, (ip): GeoFields => ({ geo: cityFields(lookup(city, ip)), as: asnFields(lookup(asn, ip)) }));
  return { lookup: fieldsOf };
}

function lookup<T>(reader: Reader<T & object> | undefined, ip: string): T | undefined {
  if (!reader) return undefined;
  try {
    return reader.get(ip) ?? undefined;
  } catch {
    return undefined; // not an address the database can look up
  }
}

function cityFields(found: CityResponse | undefined): Record<string, unknown> | undefined {
  if (!found) return undefined;
  const subdivision = found.subdivisions?.[0];
  const fields: Record<string, unknown> = {
    city_name: found.city?.names?.en,
    continent_name: found.continent?.names?.en,
    country_iso_code: found.country?.iso_code,
    country_name: found.country?.names?.en,
    location:
      found.location?.latitude !== undefined && found.location?.longitude !== undefined
        ? { lat: found.location.latitude, lon: found.location.longitude }
        : undefined,
    region_iso_code: found.country?.iso_code && subdivision?.iso_code ? `${found.country.iso_code}-${subdivision.iso_code}` : undefined,
    region_name: subdivision?.names?.en,
  };
  const defined = Object.entries(fields).filter(([, value]) => value !== undefined);
  return defined.length > 0 ? Object.fromEntries(defined) : undefined;
}

function asnFields(found: AsnResponse | undefined): Record<string, unknown> | undefined {
  if (!found?.autonomous_system_number) return undefined;
  return {
    number: found.autonomous_system_number,
    ...(found.autonomous_system_organization ? { organization: { name: found.autonomous_system_organization } } : {}),
  };
}
