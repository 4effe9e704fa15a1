package main

import (
	"os"
	"time"

	"github.com/docker/go-units"

	"usandbox/internal/format"
	"usandbox/storage"
)

// imageRow is one name of an image as images --format templates see it:
// podman's fields ({{.Repository}}, {{.Tag}}, {{.ID}}, …), as the table
// prints them.
type imageRow struct {
	ID           string
	Repository   string
	Tag          string
	Digest       string
	CreatedSince string
	CreatedAt    string
	Size         string
	Names        []string
	Labels       map[string]string
	Containers   int
	ReadOnly     bool
}

// Id is docker's spelling of {{.ID}}, which podman also answers.
func (r imageRow) Id() string { return r.ID } //nolint:revive // docker's spelling, on purpose

// imageHeaders are the column headings of imageRow's fields.
var imageHeaders = format.Headers(imageRow{}, map[string]string{"ID": "IMAGE ID", "CreatedSince": "CREATED", "ReadOnly": "R/O"})

// imageEntry is one image of images --format json, with podman's field
// names and types (Created in Unix seconds), and TopLayer.
type imageEntry struct {
	ID          string            `json:"Id"`
	ParentID    string            `json:"ParentId"`
	RepoTags    []string          `json:"RepoTags"`
	RepoDigests []string          `json:"RepoDigests"`
	Size        int64             `json:"Size"`
	SharedSize  int64             `json:"SharedSize"`
	VirtualSize int64             `json:"VirtualSize"`
	Labels      map[string]string `json:"Labels"`
	Containers  int               `json:"Containers"`
	Names       []string          `json:"Names"`
	Digest      string            `json:"Digest"`
	History     []string          `json:"History"`
	Created     int64             `json:"Created"`
	CreatedAt   string            `json:"CreatedAt"`
	TopLayer    string            `json:"TopLayer"`
}

// printImagesFormat prints the images through a --format other than the
// default table; users counts the sandboxes made from an image.
func printImagesFormat(t *format.Template, ims []*storage.Image, users func(id string) int, noTrunc, noHeading bool) error {
	if t.IsJSON() {
		out := []imageEntry{}
		for _, im := range ims {
			names := im.Names
			if names == nil {
				names = []string{}
			}
			out = append(out, imageEntry{
				ID: im.ID, RepoTags: names, RepoDigests: im.RepoDigests(), Size: im.Size, VirtualSize: im.Size,
				Labels: im.Config.Labels, Containers: users(im.ID), Names: names, Digest: im.Digest, History: names,
				Created: im.Created.Unix(), CreatedAt: im.Created.UTC().Format(time.RFC3339), TopLayer: im.TopLayer,
			})
		}
		return t.Execute(os.Stdout, out, nil)
	}
	rows := []imageRow{}
	for _, im := range ims {
		id := im.ID[:12]
		if noTrunc {
			id = "sha256:" + im.ID
		}
		names := im.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, n := range names {
			repo, tag := splitName(n)
			labels := im.Config.Labels
			if labels == nil {
				labels = map[string]string{}
			}
			rows = append(rows, imageRow{
				ID: id, Repository: repo, Tag: tag, Digest: im.Digest,
				CreatedSince: units.HumanDuration(time.Since(im.Created)) + " ago", CreatedAt: im.Created.String(),
				Size: humanSize(im.Size), Names: im.Names, Labels: labels,
				Containers: users(im.ID),
			})
		}
	}
	headers := imageHeaders
	if noHeading {
		headers = nil
	}
	return t.Execute(os.Stdout, rows, headers)
}
