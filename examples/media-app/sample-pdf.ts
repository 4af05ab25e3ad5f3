/**
 * A small, valid one-page PDF (A4, Helvetica), made in code so the example and its tests need no
 * binary fixture: `npm run dev` seeds it as a task description, the browser test uploads it.
 * Text is limited to printable ASCII (anything else becomes "?"), which the standard fonts can show.
 */

export interface SamplePdfOptions {
  title: string
  /** Paragraph lines under the title. */
  lines?: string[]
}

export function samplePdf ({ title, lines = [] }: SamplePdfOptions): Buffer {
  const text = (value: string) => value.replace(/[^\x20-\x7e]/g, '?').replace(/[\\()]/g, '\\$&')
  const content = [
    // A coloured band, the title in it, then the body text.
    '0.15 0.39 0.92 rg 0 752 595 90 re f',
    'BT /F2 24 Tf 1 1 1 rg 56 790 Td (' + text(title) + ') Tj ET',
    'BT /F1 12 Tf 0.12 0.16 0.22 rg 56 700 Td 18 TL',
    ...lines.map((line) => '(' + text(line) + ") '"),
    'ET'
  ].join('\n')

  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R ' +
      '/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>',
    // Document information: PDF viewers show the title in their toolbar rather than the file name.
    `<< /Title (${text(title)}) >>`
  ]

  // The cross-reference table needs each object's byte offset: build the file front to back.
  let pdf = '%PDF-1.4\n%\xe2\xe3\xcf\xd3\n'
  const offsets: number[] = []
  objects.forEach((body, i) => {
    offsets.push(Buffer.byteLength(pdf, 'latin1'))
    pdf += `${i + 1} 0 obj\n${body}\nendobj\n`
  })
  const xref = Buffer.byteLength(pdf, 'latin1')
  pdf += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  pdf += offsets.map((offset) => `${String(offset).padStart(10, '0')} 00000 n \n`).join('')
  pdf += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R /Info ${objects.length} 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(pdf, 'latin1')
}
