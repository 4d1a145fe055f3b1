/**
 * The simulator's default universe: ten well-known names across SSE main, SZSE main, ChiNext
 * and STAR, with plausible previous closes (late 2026 orders of magnitude, not live data).
 */
import { makeInstrument, type Instrument } from '../core/instruments.ts';
import { parseYuan } from '../core/units.ts';

export interface UniverseEntry {
  symbol: string;
  name: string;
  previousClose: string; // CNY, decimal string
  listingDate: number;
  isST?: boolean;
}

export const DEFAULT_UNIVERSE: readonly UniverseEntry[] = [
  { symbol: '600519.SH', name: 'Kweichow Moutai', previousClose: '1480.00', listingDate: 20010827 },
  { symbol: '601318.SH', name: 'Ping An Insurance', previousClose: '52.30', listingDate: 20070301 },
  { symbol: '600036.SH', name: 'China Merchants Bank', previousClose: '38.60', listingDate: 20020409 },
  { symbol: '000001.SZ', name: 'Ping An Bank', previousClose: '11.52', listingDate: 19910403 },
  { symbol: '000858.SZ', name: 'Wuliangye Yibin', previousClose: '128.40', listingDate: 19980427 },
  { symbol: '002594.SZ', name: 'BYD', previousClose: '286.00', listingDate: 20110630 },
  { symbol: '300750.SZ', name: 'CATL', previousClose: '252.80', listingDate: 20180611 },
  { symbol: '300059.SZ', name: 'East Money Information', previousClose: '22.15', listingDate: 20100319 },
  { symbol: '688981.SH', name: 'SMIC', previousClose: '88.90', listingDate: 20200716 },
  { symbol: '688111.SH', name: 'Kingsoft Office', previousClose: '296.50', listingDate: 20191118 },
];

export function buildUniverse(entries: readonly UniverseEntry[] = DEFAULT_UNIVERSE): Instrument[] {
  return entries.map((entry) =>
    makeInstrument({
      symbol: entry.symbol,
      name: entry.name,
      previousClose: parseYuan(entry.previousClose),
      listingDate: entry.listingDate,
      isST: entry.isST ?? false,
    }),
  );
}
