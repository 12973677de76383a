//! Group files and folders: upload, list (go-cqhttp and NapCat shapes),
//! URLs, counts, space, folders, deletion.

use serde_json::{json, Value};

use crate::protocol::action::{
    CreateGroupFileFolder, DelGroupFile, DelGroupFileFolder, GetGroupFileCount, GetGroupFileList,
    GetGroupFileSystemInfo, GetGroupFileUrl, GetGroupFilesByFolder, GetGroupRootFiles,
    SetGroupFileFolder, UploadGroupFile,
};
use crate::upstream::sandbox::params::{Fail, Out};
use crate::upstream::sandbox::store::{file_name, Ctx, MemberRole};

/// Files a group may hold.
pub const FILE_LIMIT: i64 = 10_000;
/// Space a group has, bytes (10 GiB).
pub const TOTAL_SPACE: i64 = 10 * 1024 * 1024 * 1024;
/// `busid` of ordinary group files.
pub const BUSID: i64 = 102;

struct FileRow {
    file_id: String,
    folder_id: String,
    name: String,
    size: i64,
    busid: i64,
    upload_time: i64,
    modify_time: i64,
    uploader: i64,
    download_times: i64,
}

fn files_in(ctx: &Ctx<'_>, g: i64, folder: Option<&str>) -> Out<Vec<FileRow>> {
    let mut stmt = ctx.db.prepare(
        "SELECT file_id, folder_id, name, size, busid, upload_time, modify_time, uploader, download_times
         FROM files WHERE self_id=?1 AND group_id=?2 AND (?3 IS NULL OR folder_id=?3)
         ORDER BY upload_time, file_id",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![ctx.self_id, g, folder], |r| {
            Ok(FileRow {
                file_id: r.get(0)?,
                folder_id: r.get(1)?,
                name: r.get(2)?,
                size: r.get(3)?,
                busid: r.get(4)?,
                upload_time: r.get(5)?,
                modify_time: r.get(6)?,
                uploader: r.get(7)?,
                download_times: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn file_json(ctx: &Ctx<'_>, g: i64, f: &FileRow) -> Out<Value> {
    Ok(json!({
        "group_id": g,
        "file_id": f.file_id,
        "file_name": f.name,
        "busid": f.busid,
        "file_size": f.size,
        "upload_time": f.upload_time,
        "dead_time": 0,
        "modify_time": f.modify_time,
        "download_times": f.download_times,
        "uploader": f.uploader,
        "uploader_name": ctx.nickname(f.uploader)?,
        "folder_id": f.folder_id,
    }))
}

struct FolderRow {
    folder_id: String,
    name: String,
    create_time: i64,
    creator: i64,
}

fn folders_in(ctx: &Ctx<'_>, g: i64, parent: &str) -> Out<Vec<FolderRow>> {
    let mut stmt = ctx.db.prepare(
        "SELECT folder_id, name, create_time, creator FROM folders
         WHERE self_id=?1 AND group_id=?2 AND parent=?3 ORDER BY create_time, folder_id",
    )?;
    let rows = stmt
        .query_map(rusqlite::params![ctx.self_id, g, parent], |r| {
            Ok(FolderRow {
                folder_id: r.get(0)?,
                name: r.get(1)?,
                create_time: r.get(2)?,
                creator: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn folder_stats(ctx: &Ctx<'_>, g: i64, folder: &str) -> Out<(i64, i64)> {
    Ok(ctx.db.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE self_id=?1 AND group_id=?2 AND folder_id=?3",
        rusqlite::params![ctx.self_id, g, folder],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?)
}

fn folder_json(ctx: &Ctx<'_>, g: i64, f: &FolderRow) -> Out<Value> {
    let (count, _) = folder_stats(ctx, g, &f.folder_id)?;
    Ok(json!({
        "group_id": g,
        "folder_id": f.folder_id,
        "folder_name": f.name,
        "create_time": f.create_time,
        "creator": f.creator,
        "creator_name": ctx.nickname(f.creator)?,
        "total_file_count": count,
    }))
}

/// Fails with `unknown folder` unless `folder` is `/` or an existing folder.
fn check_folder(ctx: &Ctx<'_>, g: i64, folder: &str) -> Out<()> {
    if folder == "/" {
        return Ok(());
    }
    rusqlite::OptionalExtension::optional(ctx.db.query_row(
        "SELECT 1 FROM folders WHERE self_id=?1 AND group_id=?2 AND folder_id=?3",
        rusqlite::params![ctx.self_id, g, folder],
        |_| Ok(()),
    ))?
    .ok_or_else(|| Fail::unknown("folder", format!("{folder} in group {g}")))
}

/// Stores a file uploaded by `uploader` and publishes `group_upload`.
pub fn store_file(
    ctx: &mut Ctx<'_>,
    g: i64,
    uploader: i64,
    name: &str,
    size: i64,
    folder: &str,
) -> Out<String> {
    ctx.group(g)?;
    check_folder(ctx, g, folder)?;
    let count: i64 = ctx.db.query_row(
        "SELECT COUNT(*) FROM files WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g],
        |r| r.get(0),
    )?;
    let used: i64 = ctx.db.query_row(
        "SELECT COALESCE(SUM(size), 0) FROM files WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g],
        |r| r.get(0),
    )?;
    if count >= FILE_LIMIT || used.saturating_add(size) > TOTAL_SPACE {
        return Err(Fail::forbidden(format!(
            "group {g} has no room for another {size} bytes"
        )));
    }
    let n = ctx.next("file_id")?;
    let file_id = format!("/sandbox-file-{g}-{n}");
    ctx.db.execute(
        "INSERT INTO files(self_id, group_id, file_id, folder_id, name, size, busid, upload_time, modify_time, uploader)
         VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?8,?9)",
        rusqlite::params![ctx.self_id, g, file_id, folder, name, size, BUSID, ctx.now, uploader],
    )?;
    ctx.notice(
        "group_upload",
        json!({"group_id": g, "user_id": uploader,
               "file": {"id": file_id, "name": name, "size": size, "busid": BUSID,
                        "url": file_url(g, &file_id, name)}}),
    );
    Ok(file_id)
}

fn file_url(g: i64, file_id: &str, name: &str) -> String {
    format!(
        "http://sandbox.invalid/group/{g}/file{file_id}/{}",
        name.replace(['/', '?', '#', ' '], "_")
    )
}

/// `upload_group_file`.
pub fn upload(ctx: &mut Ctx<'_>, p: &UploadGroupFile) -> Out {
    let (g, file) = (p.group_id, p.file.as_str());
    if file.trim().is_empty() {
        return Err(Fail::bad("file", "must not be empty"));
    }
    let remote = file.starts_with("http://")
        || file.starts_with("https://")
        || file.starts_with("base64://");
    if !remote {
        match ctx.files.local(file)? {
            Some(path) if path.is_file() => {}
            _ => {
                return Err(Fail::bad(
                    "file",
                    format!("no such file in {}: {file}", ctx.files.path().display()),
                ))
            }
        }
    }
    let name = match p.name.trim() {
        "" => file_name(file),
        _ => p.name.clone(),
    };
    let folder = p.folder.as_deref().filter(|f| !f.is_empty()).unwrap_or("/");
    ctx.group(g)?;
    let id = store_file(
        ctx,
        g,
        ctx.self_id,
        &name,
        ctx.files.media_size(file)?,
        folder,
    )?;
    Ok(json!({"file_id": id}))
}

/// `get_group_root_files`.
pub fn root_files(ctx: &mut Ctx<'_>, p: &GetGroupRootFiles) -> Out {
    list(ctx, p.group_id, "/")
}

/// `get_group_files_by_folder`.
pub fn files_by_folder(ctx: &mut Ctx<'_>, p: &GetGroupFilesByFolder) -> Out {
    if p.folder_id.is_empty() {
        return Err(Fail::bad("folder_id", "missing; expected a folder id"));
    }
    list(ctx, p.group_id, &p.folder_id)
}

fn list(ctx: &Ctx<'_>, g: i64, folder: &str) -> Out {
    ctx.group(g)?;
    check_folder(ctx, g, folder)?;
    let files = files_in(ctx, g, Some(folder))?
        .iter()
        .map(|f| file_json(ctx, g, f))
        .collect::<Out<Vec<_>>>()?;
    let folders = folders_in(ctx, g, folder)?
        .iter()
        .map(|f| folder_json(ctx, g, f))
        .collect::<Out<Vec<_>>>()?;
    Ok(json!({"files": files, "folders": folders}))
}

fn find_file(ctx: &Ctx<'_>, g: i64, file_id: &str) -> Out<FileRow> {
    files_in(ctx, g, None)?
        .into_iter()
        .find(|f| f.file_id == file_id)
        .ok_or_else(|| Fail::unknown("file", format!("{file_id} in group {g}")))
}

/// `get_group_file_url`: counts a download.
pub fn url(ctx: &mut Ctx<'_>, p: &GetGroupFileUrl) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let f = find_file(ctx, g, &p.file_id)?;
    ctx.db.execute(
        "UPDATE files SET download_times=download_times+1 WHERE self_id=?1 AND group_id=?2 AND file_id=?3",
        rusqlite::params![ctx.self_id, g, f.file_id],
    )?;
    Ok(json!({"url": file_url(g, &f.file_id, &f.name)}))
}

/// `get_group_file_system_info`.
pub fn system_info(ctx: &mut Ctx<'_>, p: &GetGroupFileSystemInfo) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let (count, used): (i64, i64) = ctx.db.query_row(
        "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM files WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(
        json!({"file_count": count, "limit_count": FILE_LIMIT, "used_space": used, "total_space": TOTAL_SPACE}),
    )
}

/// `get_group_file_count`.
pub fn count(ctx: &mut Ctx<'_>, p: &GetGroupFileCount) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let count: i64 = ctx.db.query_row(
        "SELECT COUNT(*) FROM files WHERE self_id=?1 AND group_id=?2",
        rusqlite::params![ctx.self_id, g],
        |r| r.get(0),
    )?;
    Ok(json!({"count": count}))
}

/// `get_group_file_list` (NapCat): folders (type 2) then files (type 1) of a folder, paged.
pub fn napcat_list(ctx: &mut Ctx<'_>, p: &GetGroupFileList) -> Out {
    let (g, start, n) = (p.group_id, p.start_index, p.file_count);
    if start < 0 {
        return Err(Fail::bad("start_index", "expected 0 or more"));
    }
    if !(1..=1000).contains(&n) {
        return Err(Fail::bad("file_count", "expected 1 to 1000"));
    }
    let folder = p
        .folder_id
        .as_deref()
        .filter(|f| !f.is_empty())
        .unwrap_or("/");
    ctx.group(g)?;
    check_folder(ctx, g, folder)?;
    let mut items = Vec::new();
    for f in folders_in(ctx, g, folder)? {
        let (count, used) = folder_stats(ctx, g, &f.folder_id)?;
        let creator = ctx.nickname(f.creator)?;
        items.push(json!({"peerId": g.to_string(), "type": 2, "fileInfo": null, "folderInfo": {
            "folderId": f.folder_id, "parentFolderId": folder, "folderName": f.name,
            "createTime": f.create_time, "modifyTime": f.create_time, "createUin": f.creator.to_string(),
            "creatorName": creator, "totalFileCount": count, "modifyUin": f.creator.to_string(),
            "modifyName": creator, "usedSpace": used.to_string()}}));
    }
    for f in files_in(ctx, g, Some(folder))? {
        items.push(json!({"peerId": g.to_string(), "type": 1, "folderInfo": null, "fileInfo": {
            "fileModelId": f.file_id.trim_start_matches('/'), "fileId": f.file_id, "fileName": f.name,
            "fileSize": f.size.to_string(), "busId": f.busid, "uploadedSize": f.size.to_string(),
            "uploadTime": f.upload_time, "deadTime": 0, "modifyTime": f.modify_time,
            "downloadTimes": f.download_times, "sha": "", "sha3": "", "md5": "",
            "uploaderLocalPath": "", "uploaderName": ctx.nickname(f.uploader)?,
            "uploaderUin": f.uploader.to_string(), "parentFolderId": folder, "localPath": "",
            "transStatus": 0, "transType": 0, "elementId": "0", "isFolder": false}}));
    }
    let page: Vec<Value> = items
        .into_iter()
        .skip(start as usize)
        .take(n as usize)
        .collect();
    Ok(json!({"FileList": page}))
}

/// `create_group_file_folder` (go-cqhttp).
pub fn create_folder(ctx: &mut Ctx<'_>, p: &CreateGroupFileFolder) -> Out {
    if !p.parent_id.is_empty() && p.parent_id != "/" {
        return Err(Fail::bad(
            "parent_id",
            "folders can only be created in the root `/`",
        ));
    }
    new_folder(ctx, p.group_id, &p.name, "name")
}

/// `set_group_file_folder` (NapCat).
pub fn set_folder(ctx: &mut Ctx<'_>, p: &SetGroupFileFolder) -> Out {
    new_folder(ctx, p.group_id, &p.folder_name, "folder_name")
}

/// Creates folder `name` in the root; `field` names the param in errors.
fn new_folder(ctx: &mut Ctx<'_>, g: i64, name: &str, field: &str) -> Out {
    if name.trim().is_empty() {
        return Err(Fail::bad(field, "missing; expected the folder name"));
    }
    if name.contains('/') || name.chars().count() > 96 {
        return Err(Fail::bad(field, "at most 96 characters, no `/`"));
    }
    ctx.require_role(g, MemberRole::Admin, "creating a group folder")?;
    let dup = folders_in(ctx, g, "/")?.iter().any(|f| f.name == name);
    if dup {
        return Err(Fail::invalid(format!(
            "group {g} already has a folder named `{name}`"
        )));
    }
    let n = ctx.next("folder_id")?;
    let id = format!("/sandbox-folder-{g}-{n}");
    ctx.db.execute(
        "INSERT INTO folders(self_id, group_id, folder_id, name, parent, create_time, creator) VALUES(?1,?2,?3,?4,'/',?5,?1)",
        rusqlite::params![ctx.self_id, g, id, name, ctx.now],
    )?;
    let nick = ctx.bot_nickname()?;
    Ok(json!({
        "folder_id": id,
        "result": {"retCode": 0, "retMsg": "ok", "clientWording": ""},
        "groupItem": {"peerId": g.to_string(), "type": 2, "fileInfo": null, "folderInfo": {
            "folderId": id, "parentFolderId": "/", "folderName": name, "createTime": ctx.now,
            "modifyTime": ctx.now, "createUin": ctx.self_id.to_string(), "creatorName": nick,
            "totalFileCount": 0, "modifyUin": ctx.self_id.to_string(), "modifyName": nick, "usedSpace": "0"}},
    }))
}

/// `del_group_file` (NapCat) and `delete_group_file` (go-cqhttp).
pub fn delete_file(ctx: &mut Ctx<'_>, p: &DelGroupFile) -> Out {
    let g = p.group_id;
    ctx.group(g)?;
    let f = find_file(ctx, g, &p.file_id)?;
    if f.uploader != ctx.self_id {
        ctx.require_role(g, MemberRole::Admin, "deleting someone else's file")?;
    }
    ctx.db.execute(
        "DELETE FROM files WHERE self_id=?1 AND group_id=?2 AND file_id=?3",
        rusqlite::params![ctx.self_id, g, f.file_id],
    )?;
    Ok(json!({"result": 0, "errMsg": ""}))
}

/// `del_group_file_folder` (NapCat) and `delete_group_folder` (go-cqhttp):
/// removes the folder and the files in it.
pub fn delete_folder(ctx: &mut Ctx<'_>, p: &DelGroupFileFolder) -> Out {
    let (g, folder) = (p.group_id, p.folder_id.as_str());
    ctx.group(g)?;
    if folder == "/" {
        return Err(Fail::bad("folder_id", "the root folder cannot be deleted"));
    }
    check_folder(ctx, g, folder)?;
    ctx.require_role(g, MemberRole::Admin, "deleting a group folder")?;
    for table in ["files", "folders"] {
        ctx.db.execute(
            &format!("DELETE FROM {table} WHERE self_id=?1 AND group_id=?2 AND folder_id=?3"),
            rusqlite::params![ctx.self_id, g, folder],
        )?;
    }
    Ok(json!({"retCode": 0, "retMsg": "ok", "clientWording": ""}))
}
