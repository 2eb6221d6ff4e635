package db

import (
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// bufferedRows is a result read in full, handed out as pgx.Rows.
type bufferedRows struct {
	typeMap *pgtype.Map
	fields  []pgconn.FieldDescription
	rows    [][][]byte
	tag     pgconn.CommandTag
	i       int // the current row is rows[i-1]
	closed  bool
}

var _ pgx.Rows = (*bufferedRows)(nil)

// bufferRows reads rows to their end and closes them; it fails if reading them did.
func bufferRows(rows pgx.Rows) (*bufferedRows, error) {
	defer rows.Close()
	b := &bufferedRows{typeMap: rows.TypeMap(), fields: append([]pgconn.FieldDescription(nil), rows.FieldDescriptions()...)}
	for rows.Next() {
		raw := rows.RawValues()
		row := make([][]byte, len(raw))
		for i, v := range raw {
			if v != nil {
				row[i] = append(make([]byte, 0, len(v)), v...)
			}
		}
		b.rows = append(b.rows, row)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	b.tag = rows.CommandTag()
	return b, nil
}

func (b *bufferedRows) Close()                                       { b.closed = true }
func (b *bufferedRows) Err() error                                   { return nil }
func (b *bufferedRows) CommandTag() pgconn.CommandTag                { return b.tag }
func (b *bufferedRows) FieldDescriptions() []pgconn.FieldDescription { return b.fields }
func (b *bufferedRows) Conn() *pgx.Conn                              { return nil }
func (b *bufferedRows) TypeMap() *pgtype.Map                         { return b.typeMap }

func (b *bufferedRows) Next() bool {
	if b.closed || b.i >= len(b.rows) {
		b.closed = true
		return false
	}
	b.i++
	return true
}

func (b *bufferedRows) current() ([][]byte, error) {
	if b.closed || b.i == 0 {
		return nil, errors.New("no current row: call Next first")
	}
	return b.rows[b.i-1], nil
}

func (b *bufferedRows) Scan(dest ...any) error {
	row, err := b.current()
	if err != nil {
		return err
	}
	return pgx.ScanRow(b.typeMap, b.fields, row, dest...)
}

func (b *bufferedRows) Values() ([]any, error) {
	row, err := b.current()
	if err != nil {
		return nil, err
	}
	values := make([]any, len(row))
	for i, buf := range row {
		if buf == nil {
			continue
		}
		fd := b.fields[i]
		if t, ok := b.typeMap.TypeForOID(fd.DataTypeOID); ok {
			if values[i], err = t.Codec.DecodeValue(b.typeMap, fd.DataTypeOID, fd.Format, buf); err != nil {
				return nil, err
			}
		} else if fd.Format == pgtype.TextFormatCode {
			values[i] = string(buf)
		} else {
			values[i] = buf
		}
	}
	return values, nil
}

func (b *bufferedRows) RawValues() [][]byte {
	row, _ := b.current()
	return row
}
