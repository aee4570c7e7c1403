package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createOrganizationCollections, dropOrganizationCollections)
}

// Rules of the organization collections. They name the clients collection,
// so that an auth record of any other collection (PocketBase's users, say)
// never passes them, and each tests one membership row only.
const (
	// memberOfOrganizationRule lets a client see the organizations it belongs to.
	memberOfOrganizationRule = `@request.auth.collectionName = "` + ClientsCollection + `" && ` +
		MembershipsCollection + `_via_` + FieldOrganization + `.` + FieldClient + ` ?= @request.auth.id`
	// coMemberRule lets a client see the memberships of its organizations.
	coMemberRule = `@request.auth.collectionName = "` + ClientsCollection + `" && ` +
		FieldOrganization + `.` + MembershipsCollection + `_via_` + FieldOrganization + `.` + FieldClient + ` ?= @request.auth.id`
)

func createOrganizationCollections(app core.App) error {
	orgs := organizationsCollection()
	if err := app.Save(orgs); err != nil {
		return err
	}
	members, err := membershipsCollection(app, orgs)
	if err != nil {
		return err
	}
	if err := app.Save(members); err != nil {
		return err
	}
	// The organizations' rule reads memberships, which exist only now.
	orgs.ListRule = ptr(memberOfOrganizationRule)
	orgs.ViewRule = ptr(memberOfOrganizationRule)
	return app.Save(orgs)
}

func dropOrganizationCollections(app core.App) error {
	return deleteCollections(app, MembershipsCollection, OrganizationsCollection)
}

// organizationsCollection is one record per Clerk organization. Create,
// update and delete stay superuser-only: the sync owns these records.
func organizationsCollection() *core.Collection {
	c := core.NewBaseCollection(OrganizationsCollection)
	c.Fields.Add(
		&core.TextField{Name: FieldClerkID, Required: true, Presentable: true, Help: clerkFieldHelp + " (org_...)"},
		&core.TextField{Name: FieldName, Presentable: true, Help: clerkFieldHelp},
		&core.TextField{Name: FieldSlug, Help: clerkFieldHelp},
		&core.TextField{Name: FieldImageURL, Help: clerkFieldHelp},
		&core.NumberField{Name: FieldMaxAllowedMemberships, OnlyInt: true, Help: clerkFieldHelp + " (0: no limit)"},
		&core.BoolField{Name: FieldAdminDeleteEnabled, Help: clerkFieldHelp},
		&core.JSONField{Name: FieldPublicMetadata, Help: clerkFieldHelp},
		&core.JSONField{Name: FieldPrivateMetadata, Hidden: true, Help: clerkFieldHelp},
		&core.TextField{Name: FieldCreatedBy, Help: clerkFieldHelp + " (the creator's Clerk user id)"},
		&core.DateField{Name: FieldClerkCreatedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkUpdatedAt, Help: clerkFieldHelp},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_organizations_clerkId", true, FieldClerkID, "")
	return c
}

// membershipsCollection is one record per Clerk organization membership.
// It is kept even while its user has no client; client is linked when the
// client appears.
func membershipsCollection(app core.App, orgs *core.Collection) (*core.Collection, error) {
	clients, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return nil, err
	}
	c := core.NewBaseCollection(MembershipsCollection)
	c.ListRule = ptr(coMemberRule)
	c.ViewRule = ptr(coMemberRule)
	c.Fields.Add(
		&core.TextField{Name: FieldClerkID, Required: true, Presentable: true, Help: clerkFieldHelp + " (orgmem_...)"},
		&core.RelationField{Name: FieldOrganization, CollectionId: orgs.Id, Required: true, CascadeDelete: true, MaxSelect: 1, Help: clerkFieldHelp},
		&core.RelationField{Name: FieldClient, CollectionId: clients.Id, CascadeDelete: true, MaxSelect: 1, Help: clerkFieldHelp + " (empty until the user has a client)"},
		&core.TextField{Name: FieldClerkOrganizationID, Help: clerkFieldHelp},
		&core.TextField{Name: FieldClerkUserID, Help: clerkFieldHelp},
		&core.TextField{Name: FieldRole, Presentable: true, Help: clerkFieldHelp + " (e.g. org:admin)"},
		&core.TextField{Name: FieldRoleName, Help: clerkFieldHelp},
		&core.JSONField{Name: FieldPermissions, Help: clerkFieldHelp + " (permission keys)"},
		&core.JSONField{Name: FieldPublicMetadata, Help: clerkFieldHelp},
		&core.JSONField{Name: FieldPrivateMetadata, Hidden: true, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkCreatedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkUpdatedAt, Help: clerkFieldHelp},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_memberships_clerkId", true, FieldClerkID, "")
	c.AddIndex("idx_memberships_user_org", false, FieldClerkUserID+", "+FieldClerkOrganizationID, "")
	c.AddIndex("idx_memberships_organization", false, FieldOrganization, "")
	c.AddIndex("idx_memberships_client", false, FieldClient, "")
	return c, nil
}
