package ftp

import (
	"errors"
	"io"
	"os"

	ftpserver "goftp.io/server/v2"
)

// driver is the file system as goftp sees it. goftp's own commands (CWD,
// LIST, NLST, MLSD, MLST, STAT) call Stat and ListDir and print their errors
// after a 550, so those come back as one clear line. The other methods
// complete the interface; this server's commands (commands.go) reach the
// file system directly, to choose their reply codes.
type driver struct {
	fs *fsys
}

var _ ftpserver.Driver = (*driver)(nil)

// visible turns err into the one-line text a client should read.
func visible(err error) error {
	_, text := reply(err)
	return errors.New(text)
}

func (d *driver) Stat(_ *ftpserver.Context, p string) (os.FileInfo, error) {
	cp, err := cleanPath(p)
	if err != nil {
		return nil, visible(err)
	}
	fi, err := d.fs.stat(cp)
	if err != nil {
		return nil, visible(err)
	}
	return fi, nil
}

func (d *driver) ListDir(_ *ftpserver.Context, p string, fn func(os.FileInfo) error) error {
	cp, err := cleanPath(p)
	if err == nil {
		err = d.fs.list(cp, func(fi *fileInfo) error { return fn(fi) })
	}
	if err != nil {
		return visible(err)
	}
	return nil
}

func (d *driver) DeleteDir(_ *ftpserver.Context, p string) error {
	return d.withPath(p, d.fs.rmdir)
}

func (d *driver) DeleteFile(_ *ftpserver.Context, p string) error {
	return d.withPath(p, d.fs.remove)
}

func (d *driver) MakeDir(_ *ftpserver.Context, p string) error {
	return d.withPath(p, d.fs.mkdir)
}

func (d *driver) Rename(_ *ftpserver.Context, from, to string) error {
	cto, err := cleanPath(to)
	if err != nil {
		return visible(err)
	}
	return d.withPath(from, func(from string) error { return d.fs.rename(from, cto) })
}

// GetFile returns the file p from offset, and how many bytes that is.
func (d *driver) GetFile(_ *ftpserver.Context, p string, offset int64) (int64, io.ReadCloser, error) {
	var n int64
	var r *fileReader
	err := d.withPath(p, func(p string) (err error) {
		r, n, err = d.fs.open(p, max(offset, 0))
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return n, io.NopCloser(r), nil
}

// PutFile stores data as the file p; an offset of 0 or more keeps that many
// bytes of the current content in front of it (goftp passes -1 for none).
func (d *driver) PutFile(_ *ftpserver.Context, p string, data io.Reader, offset int64) (int64, error) {
	var n int64
	err := d.withPath(p, func(p string) error {
		u, err := d.fs.beginUpload(p, max(offset, 0))
		if err != nil {
			return err
		}
		if n, err = u.copyFrom(data); err == nil {
			err = u.commit()
		}
		if err != nil {
			u.abort()
		}
		return err
	})
	return n, err
}

func (d *driver) withPath(p string, op func(string) error) error {
	cp, err := cleanPath(p)
	if err == nil {
		err = op(cp)
	}
	if err != nil {
		return visible(err)
	}
	return nil
}
